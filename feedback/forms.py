"""Forms of the public pages and of the staff ticket page."""

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.models import Entry
from retention_crm.idempotency import one_time_token_field

from .models import CannedReply, TicketKind
from .services import ReplyAfter

MESSAGE_MAX = 5000


class SupportForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("Your email address"), max_length=254)
    order_reference = forms.CharField(label=_("Order number (if it is about an order)"), max_length=64, required=False)
    kind = forms.ChoiceField(
        label=_("What is it about?"), choices=TicketKind.choices, initial=TicketKind.COMPLAINT, widget=forms.RadioSelect
    )
    message = forms.CharField(label=_("Your message"), max_length=MESSAGE_MAX, widget=forms.Textarea(attrs={"rows": 8}))
    survey_consent = forms.BooleanField(
        label=_("You may ask me afterwards how you did (a short survey by email)"), required=False
    )
    # A honeypot: hidden from people (CSS and aria-hidden), filled in by bots.
    website = forms.CharField(label=_("Leave this field empty"), required=False)
    # One ticket per page load however often it is sent (a double click, a retry).
    submission = one_time_token_field()

    def clean_message(self):
        message = self.cleaned_data["message"].strip()
        if len(message) < 2:
            raise forms.ValidationError(_("Please tell us a little more."))
        return message


class CustomerMessageForm(forms.Form):
    message = forms.CharField(
        label=_("Add a message"), max_length=MESSAGE_MAX, widget=forms.Textarea(attrs={"rows": 6})
    )
    # One message per page load however often it is sent.
    submission = one_time_token_field()


REPLY_MODES = [
    ("email", _("Reply to the customer by email")),
    (Entry.NOTE, _("Internal note")),
    (Entry.CALL, _("Log a call")),
    (Entry.MEETING, _("Log a meeting")),
]


class StaffReplyMixin(forms.Form):
    """The reply box on the staff ticket page (mixed into the admin's ticket form)."""

    reply_mode = forms.ChoiceField(label=_("Add"), choices=REPLY_MODES, initial="email", required=False)
    canned_reply = forms.ModelChoiceField(
        label=_("Canned reply"),
        queryset=CannedReply.objects.all(),
        required=False,
        help_text=_("Used when the text box is empty."),
    )
    reply_text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 6}), required=False)
    reply_after = forms.ChoiceField(
        label=_("Then"), choices=ReplyAfter.choices, initial=ReplyAfter.KEEP, required=False
    )
    # One reply per page load, however often the form is submitted.
    reply_token = one_time_token_field()
