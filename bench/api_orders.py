def run(report):
    raise NotImplementedError
