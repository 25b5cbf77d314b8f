"""The customer's loyalty page, `/loyalty/<token>/`: balance, pending points, tier and
the way to the next one, points expiring soon, the history (a page at a time), rewards
with a redeem button, and the referral code. No login: the token in the link from a
loyalty email is the key; unknown, forged and expired links show one friendly page."""

import uuid

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from retention_crm import ratelimit
from retention_crm.errors import Conflict
from retention_crm.idempotency import form_submission_key
from retention_crm.pages import customer_page, speak

from .models import Redemption, RedemptionStatus, Reward
from .notices import account_for_token, token_digest
from .selectors import describe, expiring_soon, history, referral_link, tier_progress
from .services import points_redeem, program_rules

# Redemptions from one page link per hour: plenty for a person, a wall for a script.
REDEEMS_PER_HOUR = 20


@customer_page
def loyalty_page(request, token: str):
    now = timezone.now()
    account = account_for_token(token, now=now)
    if account is None:
        return render(request, "public/link_invalid.html", status=404)
    speak(request, account.customer.locale)
    language = translation.get_language()
    error = ""
    if request.method == "POST":
        chosen = request.POST.get("reward", "")
        number = chosen.isascii() and chosen.isdigit()  # "²" is a digit to isdigit; int() refuses it
        reward = Reward.objects.filter(pk=chosen, active=True).first() if number else None
        if reward is None:
            error = _("This reward is no longer offered.")
        elif not ratelimit.allow("loyalty-redeem", token_digest(token), limit=REDEEMS_PER_HOUR):
            error = _("Too many redemptions in a short time; please try again later.")
        else:
            try:
                submission = request.POST.get("submission", "")
                key = form_submission_key(submission, str(account.pk), str(reward.pk))
                redeemed = points_redeem(customer=account.customer, reward=reward, key=key, now=now)
            except Conflict as exc:
                error = " ".join(exc.messages)
            else:
                url = reverse("loyalty-page", args=[token]) + f"?redeemed={redeemed.redemption.pk}#codes"
                return HttpResponseRedirect(url)
        account.refresh_from_db(fields=["balance", "pending"])
    before = request.GET.get("before", "")
    entries, next_before = history(account, before_id=int(before) if before.isascii() and before.isdigit() else None)
    program = program_rules()
    rewards = [
        {
            "id": reward.pk,
            "name": reward.name_in(language),
            "description": reward.description_in(language),
            "cost": reward.cost,
            "affordable": reward.cost <= account.balance,
            "missing": max(reward.cost - account.balance, 0),
        }
        for reward in Reward.objects.filter(active=True).exclude(stock=0).order_by("cost", "id")
    ]
    codes = [
        {
            "code": redemption.code,
            "reward": redemption.reward.name_in(language),
            "expires_at": redemption.expires_at,
            "new": str(redemption.pk) == request.GET.get("redeemed"),
        }
        for redemption in Redemption.objects.filter(account=account, status=RedemptionStatus.ISSUED)
        .select_related("reward")
        .order_by("-id")[:10]
    ]
    progress = tier_progress(account, now=now)
    context = {
        "submission": uuid.uuid4().hex,  # one redemption per page load (a double click)
        "account": account,
        "customer": account.customer,
        "tier_name": account.tier.name_in(language) if account.tier else "",
        "tier_benefits": account.tier.benefits_in(language) if account.tier else "",
        "progress": progress,
        "next_tier_name": progress.next_tier.name_in(language) if progress.next_tier else "",
        "expiring": expiring_soon(account, now=now),
        "history": [{"entry": entry, "text": describe(entry, language)} for entry in entries],
        "next_page": f"?before={next_before}#history" if next_before else "",
        "first_page": bool(before),
        "rewards": rewards,
        "codes": codes,
        "min_order": program.min_order_to_use_points,
        "currency": program.currency,
        "referral_url": referral_link(account),
        "referee_points": program.referee_points,
        "error": error,
    }
    return render(request, "public/loyalty.html", context, status=409 if error else 200)
