"""Demo insights for `seed_demo`: the nightly scores computed at once (so that the
at-risk queue, the dashboard and the segments have something to show on the first
start, not the morning after), two saved segments, and a win-back campaign ready to
launch with its texts in the five languages. Data, like the demo's tickets: not
translated strings."""

from django.contrib.auth.models import User

from loyalty.models import Reward, RewardKind
from loyalty.rollup import ledger_days_rebuild

from .models import Segment, WinBackCampaign
from .scoring import scores_compute

SUBJECTS = {
    "en": "We have missed you",
    "da": "Vi har savnet dig",
    "ru": "Мы по вам соскучились",
    "ko": "고객님이 그리웠어요",
    "zh-hans": "好久不见，我们想念您",
}
BODIES = {
    "en": "Dear {name},\n\nThis season's teas have arrived. Here is a little something to welcome you back.",
    "da": "Kære {name},\n\nÅrets nye teer er kommet. Her er en lille velkomstgave, når du kommer tilbage.",
    "ru": "Здравствуйте, {name}!\n\nПрибыл чай нового урожая. Небольшой подарок в честь вашего возвращения.",
    "ko": "{name}님, 안녕하세요.\n\n올해 새 차가 도착했어요. 다시 찾아 주시면 드릴 작은 선물을 준비했어요.",
    "zh-hans": "{name}，您好：\n\n今年的新茶已经到货。为欢迎您回来，我们准备了一份小礼物。",
}


def seed_insights() -> dict:
    """Scores, segments and a draft campaign; the counts made."""
    run = scores_compute()
    ledger_days_rebuild()
    staff = User.objects.filter(is_staff=True).order_by("pk").first()
    lapsed, _created = Segment.objects.get_or_create(
        name="Lapsed repeat buyers",
        defaults={
            "description": "Ordered at least twice, but not in the last 120 days.",
            "rules": {"min_orders": 2, "no_order_for_days": 120},
            "created_by": staff,
        },
    )
    Segment.objects.get_or_create(
        name="Unhappy and at risk",
        defaults={
            "description": "Detractors in their last NPS answer whose churn risk is 40 or more.",
            "rules": {"nps_groups": ["detractor"], "min_churn_risk": 40},
            "created_by": staff,
        },
    )
    offer = Reward.objects.filter(kind=RewardKind.DISCOUNT, active=True).order_by("cost").first()
    campaigns = 0
    if offer is not None and not WinBackCampaign.objects.exists():
        WinBackCampaign.objects.create(
            name="Welcome back: this season's teas",
            segment=lapsed,
            reward=offer,
            subjects=SUBJECTS,
            bodies=BODIES,
            created_by=staff,
        )
        campaigns = 1
    return {"scored": run.customers, "segments": Segment.objects.count(), "campaigns": campaigns}
