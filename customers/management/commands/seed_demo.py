"""Realistic, deterministic demo data: the same --seed and --until give the same data."""

import io
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.imports.orders import orders_import
from customers.models import AcquisitionChannel, Customer, Delivery, Message, Order, OrderLine, Product
from retention_crm.commands import TranslatedCommand

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"

# (locale, share, time zones, first names, last names)
PEOPLE = [
    (
        "en",
        0.40,
        ["Europe/London", "America/New_York", "America/Chicago", "Australia/Sydney"],
        ["Olivia", "Noah", "Amelia", "George", "Isla", "Oliver", "Ava", "Harry", "Mia", "Jack", "Grace", "Leo"],
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans", "Walker"],
    ),
    (
        "da",
        0.20,
        ["Europe/Copenhagen"],
        ["Freja", "William", "Ida", "Oscar", "Clara", "Karl", "Alma", "Noah", "Emma", "Viggo", "Agnes", "Lucas"],
        ["Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen"],
    ),
    (
        "ru",
        0.15,
        ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk"],
        ["Anna", "Ivan", "Maria", "Dmitry", "Sofia", "Alexei", "Elena", "Mikhail", "Olga", "Sergei", "Daria"],
        # The men's forms; a woman's takes an -a (RUSSIAN_WOMEN).
        ["Ivanov", "Petrov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Sokolov", "Lebedev", "Morozov"],
    ),
    (
        "ko",
        0.12,
        ["Asia/Seoul"],
        ["Seo-yeon", "Min-jun", "Ji-woo", "Seo-jun", "Ha-eun", "Do-yun", "Su-ah", "Ye-jun", "Ji-ho", "Ha-rin"],
        ["Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim"],
    ),
    (
        "zh-hans",
        0.13,
        ["Asia/Shanghai", "Asia/Singapore"],
        ["Wei", "Fang", "Jing", "Lei", "Min", "Yan", "Jun", "Li", "Hui", "Tao", "Xin", "Ying"],
        ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"],
    ),
]
RUSSIAN_WOMEN = {"Anna", "Maria", "Sofia", "Elena", "Olga", "Daria"}
CHANNELS = [
    (AcquisitionChannel.ORGANIC, 0.30),
    (AcquisitionChannel.PAID_SEARCH, 0.18),
    (AcquisitionChannel.SOCIAL, 0.17),
    (AcquisitionChannel.EMAIL, 0.10),
    (AcquisitionChannel.REFERRAL, 0.12),
    (AcquisitionChannel.MARKETPLACE, 0.08),
    (AcquisitionChannel.RETAIL, 0.05),
]
# A tea and coffee shop: (sku, name, category, price)
PRODUCTS = [
    ("TEA-SENCHA", "Sencha green tea, 100 g", "Tea", "12.50"),
    ("TEA-EARLGREY", "Earl Grey, 100 g", "Tea", "9.90"),
    ("TEA-ASSAM", "Assam breakfast tea, 250 g", "Tea", "14.00"),
    ("TEA-OOLONG", "Milk oolong, 50 g", "Tea", "16.80"),
    ("TEA-PUERH", "Aged pu-erh cake, 357 g", "Tea", "39.00"),
    ("TEA-CHAMOMILE", "Chamomile blossoms, 50 g", "Herbal", "7.50"),
    ("TEA-ROOIBOS", "Rooibos vanilla, 100 g", "Herbal", "8.90"),
    ("TEA-MATCHA", "Ceremonial matcha, 30 g", "Tea", "24.00"),
    ("COF-ETHIOPIA", "Ethiopia Yirgacheffe beans, 250 g", "Coffee", "13.50"),
    ("COF-COLOMBIA", "Colombia Huila beans, 250 g", "Coffee", "11.90"),
    ("COF-ESPRESSO", "House espresso blend, 1 kg", "Coffee", "32.00"),
    ("COF-DECAF", "Swiss water decaf, 250 g", "Coffee", "12.90"),
    ("ACC-KETTLE", "Gooseneck kettle", "Accessories", "59.00"),
    ("ACC-GRINDER", "Hand grinder", "Accessories", "45.00"),
    ("ACC-TEAPOT", "Cast iron teapot, 0.8 l", "Accessories", "49.00"),
    ("ACC-FILTERS", "Paper filters, 100", "Accessories", "5.50"),
    ("ACC-CUPS", "Two porcelain cups", "Accessories", "22.00"),
    ("SUB-TEA", "Tea of the month", "Subscriptions", "19.00"),
    ("SUB-COFFEE", "Coffee of the month", "Subscriptions", "21.00"),
    ("GIFT-BOX", "Tasting gift box", "Gifts", "35.00"),
]
# Buying habits: (share, mean days between orders or None for one order, chance to stop
# after each order)
HABITS = [(0.42, None, 1.0), (0.30, 75, 0.30), (0.18, 28, 0.08), (0.10, 14, 0.04)]


def pick(rng: random.Random, weighted):
    return rng.choices([item for item, _share in weighted], [share for _item, share in weighted])[0]


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Load demo data: customers over two years in five languages, products, orders with repeat, "
        "lapsed and one-time buyers. Deterministic for a given --seed and --until."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help=gettext_lazy("random seed (default 42)"))
        parser.add_argument(
            "--customers", type=int, default=3000, help=gettext_lazy("how many customers (default 3000)")
        )
        parser.add_argument(
            "--until", type=date.fromisoformat, help=gettext_lazy("last day of orders, YYYY-MM-DD (default: today)")
        )
        parser.add_argument("--if-empty", action="store_true", help=gettext_lazy("do nothing if customers exist"))
        parser.add_argument(
            "--with-login",
            action="store_true",
            help=gettext_lazy("also create the demo staff login demo/demo (DEBUG only)"),
        )

    def handle(self, *args, **options):
        if options["with_login"]:
            self.ensure_login()
        if options["if_empty"] and Customer.objects.exists():
            self.stdout.write(_("Demo data already loaded; nothing to do."))
            return
        if Order.objects.filter(external_id__startswith="DEMO-").exists():
            raise CommandError(_("Demo orders exist already; load into an empty database."))
        until = options["until"] or timezone.localdate()
        rng = random.Random(options["seed"])
        with transaction.atomic():
            counts = self.load(rng, options["customers"], until)
            # The demo is the whole product: tickets too (their app's own demo data).
            from feedback.demo import seed_surveys, seed_tickets

            tickets = seed_tickets(rng, until)
            answers = seed_surveys(rng, until)
            # Last: the scores read the orders, tickets and answers above.
            from insights.demo import seed_insights

            insights = seed_insights()
            self.history_sent()
        self.stdout.write(
            _("Demo data loaded: %(customers)d customers, %(orders)d orders, %(products)d products.") % counts
        )
        self.stdout.write(_("Demo tickets: %(tickets)d.") % {"tickets": tickets})
        self.stdout.write(_("Demo survey answers: %(answers)d.") % {"answers": answers})
        self.stdout.write(
            _("Demo insights: customers scored %(scored)d, segments %(segments)d, win-back campaigns %(campaigns)d.")
            % insights
        )

    @staticmethod
    def history_sent() -> None:
        """The demo's emails belong to its past: written out and marked sent, as they
        would have been at the time. Otherwise the first start's worker sends them all
        (into var/mail/), acknowledgments promising dates long gone among them."""
        from customers.outbox import write_out_all

        pending = list(Message.objects.filter(delivery=Delivery.PENDING).select_related("customer", "ticket"))
        write_out_all([message for message in pending if not message.body])  # staff replies are written already
        for message in pending:
            if message.kind == "ticket_ack":
                message.occurred_at = message.ticket.created_at  # it goes out within seconds
            message.delivery, message.sent_at = Delivery.SENT, message.occurred_at
        fields = ["subject", "body", "body_html", "delivery", "sent_at", "occurred_at"]
        Message.objects.bulk_update(pending, fields, batch_size=500)

    def ensure_login(self) -> None:
        if not settings.DEBUG:
            raise CommandError(_("The demo login is for DEBUG only: it has a public password."))
        user, created = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": True})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name="Support manager"))

    def load(self, rng: random.Random, customer_count: int, until: date) -> dict:
        products = Product.objects.bulk_create(
            Product(sku=sku, name=name, category=category, price=Decimal(price))
            for sku, name, category, price in PRODUCTS
        )
        start = until - timedelta(days=730)
        customers, habits = [], []
        for number in range(1, customer_count + 1):
            locale, _share, zones, first_names, last_names = rng.choices(PEOPLE, [p[1] for p in PEOPLE])[0]
            first, last = rng.choice(first_names), rng.choice(last_names)
            if locale == "ru" and first in RUSSIAN_WOMEN:
                last += "a"  # Russian surnames agree with the person: Ivan Smirnov, Elena Smirnova
            # Growth: later months bring more new customers.
            joined = start + timedelta(days=int(730 * rng.random() ** 0.8))
            customers.append(
                Customer(
                    external_id=f"DEMO-C{number:05d}",
                    email=f"{first}.{last}.{number}@example.com".lower().replace("ø", "o"),
                    name=f"{first} {last}",
                    phone=f"+{rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                    locale=locale,
                    time_zone=rng.choice(zones),
                    birthday=date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
                    if rng.random() < 0.6
                    else None,
                    acquisition_channel=pick(rng, CHANNELS),
                    marketing_consent=rng.random() < 0.55,
                    survey_consent=rng.random() < 0.7,
                    first_seen=datetime.combine(joined, time(9), tzinfo=UTC) - timedelta(days=rng.randint(0, 20)),
                )
            )
            habits.append((joined, rng.choices(HABITS, [h[0] for h in HABITS])[0]))
        Customer.objects.bulk_create(customers)

        rows, lines = [], []
        for customer, (joined, (_share, mean_gap, stop_chance)) in zip(customers, habits, strict=True):
            day = joined
            while day <= until:
                number = len(rows) + 1
                basket = rng.sample(products, rng.choice([1, 1, 1, 2, 2, 3]))
                quantities = [rng.choice([1, 1, 1, 2, 3]) for _ in basket]
                total = sum((p.price * q for p, q in zip(basket, quantities, strict=True)), Decimal(0))
                age = (until - day).days
                status = rng.choices(
                    ["fulfilled", "paid", "placed", "cancelled", "refunded"],
                    [0.9 if age > 7 else 0.2, 0.05 if age > 7 else 0.5, 0 if age > 7 else 0.25, 0.03, 0.02],
                )[0]
                moment = datetime.combine(day, time(rng.randint(7, 22), rng.randint(0, 59)), tzinfo=UTC)
                rows.append(f"DEMO-O{number:06d},{customer.external_id},{moment.isoformat()},{total},EUR,{status}")
                lines.extend((number, p, q) for p, q in zip(basket, quantities, strict=True))
                if mean_gap is None or rng.random() < stop_chance:
                    break
                day += timedelta(days=max(1, int(rng.expovariate(1 / mean_gap))))

        csv = "order_id,customer_id,placed_at,total,currency,status\n" + "\n".join(rows) + "\n"
        report = orders_import(io.BytesIO(csv.encode()))
        if not report.committed:
            raise CommandError(report.summary())
        order_ids = dict(Order.objects.filter(external_id__startswith="DEMO-O").values_list("external_id", "id"))
        OrderLine.objects.bulk_create(
            OrderLine(
                order_id=order_ids[f"DEMO-O{number:06d}"], product=product, quantity=quantity, unit_price=product.price
            )
            for number, product, quantity in lines
        )
        return {"customers": len(customers), "orders": len(rows), "products": len(products)}
