"""The base of the project's management commands."""

from django.core.management.base import BaseCommand


class TranslatedCommand(BaseCommand):
    """A command whose help is translated. The class attribute `help` is made when the
    module is imported, before any language is active, so it is lazy (gettext_lazy);
    argparse formats its description with `re`, which needs a str: `manage.py <command>
    --help` failed with a TypeError. The text is made in the active language here."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        self.help = str(self.help)
        return super().create_parser(prog_name, subcommand, **kwargs)
