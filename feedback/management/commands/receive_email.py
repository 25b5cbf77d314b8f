"""Read one raw email (RFC 5322) from standard input and file it: a reply lands on its
ticket, anything else opens one. For a mail server's pipe, e.g. in Postfix's aliases:

    support: "|/srv/crm/.venv/bin/python /srv/crm/manage.py receive_email"

Exit codes follow sysexits.h so that the mail server does the right thing: 0 filed (or
an automatic answer dropped), 65 unusable message (bounced), 75 temporary failure (the
mail server keeps the message and tries again; e.g. the database is down).
"""

import sys

from anymail.inbound import AnymailInboundMessage
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from feedback.services import email_receive
from retention_crm.commands import TranslatedCommand

EX_DATAERR = 65
EX_TEMPFAIL = 75
MAX_BYTES = 25 * 1024 * 1024


class Command(TranslatedCommand):
    help = gettext_lazy("File one raw email read from standard input as a ticket or a reply to one.")

    def handle(self, *args, **options):
        raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        if not raw.strip():
            self.stderr.write("receive_email: " + _("no message on standard input."))
            sys.exit(EX_DATAERR)
        if len(raw) > MAX_BYTES:
            self.stderr.write("receive_email: " + _("the message is larger than 25 MB."))
            sys.exit(EX_DATAERR)
        try:
            ticket = email_receive(AnymailInboundMessage.parse_raw_mime_bytes(raw))
        except ValidationError as exc:
            self.stderr.write(f"receive_email: {' '.join(exc.messages)}")
            sys.exit(EX_DATAERR)
        except DatabaseError as exc:
            self.stderr.write("receive_email: " + _("try again later: %(error)s") % {"error": exc})
            sys.exit(EX_TEMPFAIL)
        if ticket is None:
            self.stdout.write("dropped: an automatic answer")
        else:
            self.stdout.write(ticket.reference)
