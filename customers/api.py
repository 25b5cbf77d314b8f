urlpatterns = []


def register(router):
    pass
