"""Demo tickets for `seed_demo`: complaints, questions and requests in the customers' own
languages over the last ten days, some answered, waiting, resolved or late, through the
same services as real tickets (their acknowledgments are real outbox rows too)."""

import random
from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from customers.models import Customer, Entry

from .models import BusinessCalendar, BusinessHours, CannedReply, Holiday, SlaPolicy, Team
from .services import (
    ReplyAfter,
    reminder_create,
    ticket_assign,
    ticket_note_add,
    ticket_open,
    ticket_reply,
    ticket_resolve,
)
from .services.sla import forget_policies

# (kind, text) per language: what customers of a tea and coffee shop write.
MESSAGES = {
    "en": [
        ("complaint", "My order arrived with the teapot broken. Can you send a new one?"),
        ("question", "Is the Sencha from this year's harvest?"),
        ("complaint", "I was charged twice for my coffee subscription this month."),
        ("request", "Please change the delivery address of my next order."),
    ],
    "da": [
        ("complaint", "Min pakke er ikke kommet, selvom der står, at den er leveret."),
        ("question", "Kan jeg sætte mit abonnement på pause i juli?"),
        ("feedback", "Den nye espressoblanding er fantastisk, tak!"),
    ],
    "ru": [
        ("complaint", "В заказе не хватает пачки чая улун."),
        ("question", "Есть ли у вас чай без кофеина?"),
        ("request", "Прошу отменить мою подписку на кофе."),
    ],
    "ko": [
        ("complaint", "주문한 말차가 유통기한이 지난 상태로 왔습니다."),
        ("question", "해외 배송도 가능한가요?"),
    ],
    "zh-hans": [
        ("complaint", "收到的茶壶有裂缝，请帮我换一个。"),
        ("question", "普洱茶饼可以存放多久？"),
    ],
}
REPLIES = {
    "en": "Thank you for telling us. We are sorry, and a replacement is on its way.",
    "da": "Tak fordi du skrev. Vi beklager, og en erstatning er på vej.",
    "ru": "Спасибо, что написали. Приносим извинения — замена уже в пути.",
    "ko": "알려 주셔서 감사합니다. 불편을 드려 죄송하며 교환 상품을 보내 드렸습니다.",
    "zh-hans": "感谢您告诉我们。非常抱歉，替换商品已在路上。",
}


def seed_tickets(rng: random.Random, until, *, count: int = 40) -> int:
    """Open `count` demo tickets for random demo customers in the ten days before `until`."""
    staff = User.objects.filter(is_staff=True).order_by("pk").first()
    _policies_and_helpers(staff)
    customers = list(Customer.objects.filter(external_id__startswith="DEMO-").order_by("pk"))
    if not customers:
        return 0
    end = min(datetime.combine(until, time(17), tzinfo=timezone.get_current_timezone()), timezone.now())
    for number in range(count):
        customer = rng.choice(customers)
        kind, text = rng.choice(MESSAGES.get(customer.locale, MESSAGES["en"]))
        opened = end - timedelta(minutes=rng.randint(10, 10 * 24 * 60))
        ticket = ticket_open(
            customer=customer,
            description=text,
            kind=kind,
            channel=rng.choice(["web", "web", "email", "phone"]),
            priority=rng.choices(["low", "normal", "high", "urgent"], [2, 6, 2, 1])[0],
            language=customer.locale,
            now=opened,
        )
        fate = number % 5
        if staff is None or fate == 0:
            continue  # new, and (if old enough) late for its first answer
        ticket_assign(ticket=ticket, assignee=staff)
        if fate == 1:
            ticket_note_add(ticket=ticket, text="Checked with the warehouse: the parcel left on time.", author=staff)
        elif fate == 2:
            ticket_reply(ticket=ticket, text=REPLIES[ticket.language], author=staff, after=ReplyAfter.WAIT)
        elif fate == 3:
            ticket_reply(ticket=ticket, text=REPLIES[ticket.language], author=staff)
            ticket_resolve(ticket=ticket)
        else:
            ticket_note_add(ticket=ticket, text="Called; will check and call back.", author=staff, entry=Entry.CALL)
            reminder_create(
                ticket=ticket,
                kind="call",
                due_at=timezone.now() + timedelta(hours=rng.randint(-3, 48)),
                assignee=staff,
                note="Call back about the missing parcel.",
                created_by=staff,
            )
    return count


def _policies_and_helpers(staff) -> None:
    """An office-hours calendar on the low-priority policy, a team, canned replies."""
    calendar, created = BusinessCalendar.objects.get_or_create(
        name="Office hours (Copenhagen)", defaults={"time_zone": "Europe/Copenhagen"}
    )
    if created:
        for weekday in range(5):
            BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=time(9), closes=time(12))
            BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=time(12, 30), closes=time(17))
        for day, name in (("12-24", "Christmas Eve"), ("12-25", "Christmas Day"), ("12-31", "New Year's Eve")):
            year = timezone.localdate().year
            Holiday.objects.create(calendar=calendar, date=f"{year}-{day}", name=name)
        SlaPolicy.objects.filter(priority="low", is_default=False).update(calendar=calendar)
        forget_policies()
    team, _ = Team.objects.get_or_create(name="Customer care", defaults={"email": ""})
    if staff is not None:
        team.members.add(staff)
    CannedReply.objects.get_or_create(
        title="Replacement on its way",
        language="en",
        defaults={"body": "Dear {name},\n\nwe are sorry about this. A replacement is on its way ({reference})."},
    )
    CannedReply.objects.get_or_create(
        title="Need the order number",
        language="en",
        defaults={"body": "Dear {name},\n\ncould you tell us the number of the order this is about?"},
    )


# NPS scores drawn with these weights (0 … 10): mostly promoters and passives, some
# detractors, as a shop that treats people well sees.
NPS_WEIGHTS = [1, 1, 1, 2, 2, 3, 4, 9, 12, 16, 14]
CSAT_WEIGHTS = [2, 2, 4, 10, 14]  # 1 … 5
REASONS = {
    "en": ["Fast delivery and lovely tea.", "The parcel was late.", "Good, but shipping costs too much."],
    "da": ["Hurtig levering og dejlig te.", "Pakken kom for sent.", "Godt, men fragten er for dyr."],
    "ru": ["Быстрая доставка и отличный чай.", "Посылка опоздала.", "Хорошо, но доставка дорогая."],
    "ko": ["배송이 빠르고 차가 맛있어요.", "배송이 늦었어요.", "좋지만 배송비가 비싸요."],
    "zh-hans": ["发货快，茶很好。", "包裹迟到了。", "不错，但运费太贵。"],
}


def seed_surveys(rng: random.Random, until, *, attempts: int = 150) -> int:
    """Survey answers over the past year from demo customers who agreed to surveys,
    through the same services as real ones (so the scores, the monthly rows and the
    recovery tickets are real). Recovery tickets older than two weeks are closed."""
    from .services import ticket_close
    from .surveys.models import Survey, SurveyResponse
    from .surveys.services import ContactRefused, LinkInvalid, survey_invite, survey_response_submit

    surveys = {survey.kind: survey for survey in Survey.objects.filter(kind__in=("nps", "csat", "cli"))}
    customers = list(Customer.objects.filter(external_id__startswith="DEMO-", survey_consent=True).order_by("pk"))
    if not customers or len(surveys) < 3:
        return 0
    end = min(datetime.combine(until, time(17), tzinfo=timezone.get_current_timezone()), timezone.now())
    answered = 0
    for _number in range(attempts):
        customer = rng.choice(customers)
        kind = rng.choices(["nps", "csat", "cli"], [7, 2, 1])[0]
        asked = end - timedelta(minutes=rng.randint(60, 365 * 24 * 60))
        try:
            # History: these were asked months ago; nothing is emailed now.
            invitation = survey_invite(
                survey=surveys[kind], customer=customer, source="staff", now=asked, by_email=False
            )
        except ContactRefused:
            continue  # asked lately, or a complaint: the rules hold for the demo too
        if kind == "nps":
            answers = {"score": str(rng.choices(range(11), NPS_WEIGHTS)[0])}
            if rng.random() < 0.5:
                answers["reason"] = rng.choice(REASONS.get(customer.locale, REASONS["en"]))
        elif kind == "csat":
            answers = {"score": str(rng.choices(range(1, 6), CSAT_WEIGHTS)[0])}
        else:
            answers = {
                key: str(rng.choices(range(1, 7), [1, 1, 2, 4, 6, 5])[0]) for key in ("recommend", "rebuy", "try")
            }
        try:
            survey_response_submit(token=invitation.token, answers=answers, now=asked + timedelta(hours=2))
        except LinkInvalid:
            continue
        answered += 1
    recent = end - timedelta(days=14)
    for response in SurveyResponse.objects.filter(recovery_ticket__isnull=False, submitted_at__lt=recent):
        ticket_close(ticket=response.recovery_ticket)
    return answered
