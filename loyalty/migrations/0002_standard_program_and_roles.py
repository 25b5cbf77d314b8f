"""The program's rules row, three tiers and four rewards in the five languages, and the
loyalty permissions of the staff roles. Managers change all of it in the admin."""

from decimal import Decimal

from django.contrib.auth.management import create_permissions
from django.db import migrations

TIERS = [
    (1, "0", "1.00", {"en": "Bronze", "da": "Bronze", "ru": "Бронза", "ko": "브론즈", "zh-hans": "铜卡"},
     {"en": "1 point per euro.", "da": "1 point pr. euro.", "ru": "1 балл за евро.", "ko": "1유로당 1포인트.",
      "zh-hans": "每欧元 1 积分。"}),
    (2, "500", "1.25", {"en": "Silver", "da": "Sølv", "ru": "Серебро", "ko": "실버", "zh-hans": "银卡"},
     {"en": "25% more points and free shipping on every order.",
      "da": "25 % flere point og gratis fragt på alle ordrer.",
      "ru": "На 25% больше баллов и бесплатная доставка всех заказов.",
      "ko": "포인트 25% 추가 적립 및 모든 주문 무료 배송.",
      "zh-hans": "积分多 25%，所有订单免运费。"}),
    (3, "2000", "1.50", {"en": "Gold", "da": "Guld", "ru": "Золото", "ko": "골드", "zh-hans": "金卡"},
     {"en": "50% more points, free shipping and answers from support within the hour.",
      "da": "50 % flere point, gratis fragt og svar fra kundeservice inden for en time.",
      "ru": "На 50% больше баллов, бесплатная доставка и ответ поддержки в течение часа.",
      "ko": "포인트 50% 추가 적립, 무료 배송, 1시간 이내 고객지원 답변.",
      "zh-hans": "积分多 50%，免运费，客服一小时内答复。"}),
]

REWARDS = [
    ("discount", 500, "5", {"en": "€5 off your next order", "da": "5 € rabat på din næste ordre",
                            "ru": "Скидка 5 € на следующий заказ", "ko": "다음 주문 5유로 할인",
                            "zh-hans": "下次订单减 5 欧元"}),
    ("free_shipping", 300, "0", {"en": "Free shipping", "da": "Gratis fragt", "ru": "Бесплатная доставка",
                                 "ko": "무료 배송", "zh-hans": "免运费"}),
    ("gift", 1500, "0", {"en": "A gift with your next order", "da": "En gave med din næste ordre",
                         "ru": "Подарок к следующему заказу", "ko": "다음 주문 시 사은품",
                         "zh-hans": "下次订单附赠礼品"}),
    ("donation", 1000, "10", {"en": "€10 to plant trees", "da": "10 € til at plante træer",
                              "ru": "10 € на посадку деревьев", "ko": "나무 심기에 10유로 기부",
                              "zh-hans": "捐 10 欧元植树"}),
]

LOYALTY_MODELS = ("account", "entry", "reward", "redemption", "tier", "program")
AGENT = ["view_account", "view_entry", "view_reward", "view_redemption", "view_tier", "view_program",
         "add_redemption"]
MANAGER = [*(f"{action}_{model}" for model in LOYALTY_MODELS for action in ("view", "add", "change", "delete")),
           "view_loyalty_liability"]


def forwards(apps, schema_editor):
    app_config = apps.get_app_config("loyalty")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Program = apps.get_model("loyalty", "Program")
    Tier = apps.get_model("loyalty", "Tier")
    Reward = apps.get_model("loyalty", "Reward")
    Program.objects.get_or_create(id=1)
    if not Tier.objects.exists():
        for rank, threshold, multiplier, names, benefits in TIERS:
            Tier.objects.create(rank=rank, threshold=Decimal(threshold), multiplier=Decimal(multiplier),
                                names=names, benefits=benefits)
    if not Reward.objects.exists():
        for kind, cost, value, names in REWARDS:
            Reward.objects.create(kind=kind, cost=cost, value=Decimal(value), names=names)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Support agent", AGENT), ("Support manager", MANAGER)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="loyalty", codename__in=codenames))


def backwards(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_ledger_tiers_rewards"), ("feedback", "0004_standard_surveys_and_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
