from datetime import timedelta

from django.contrib.auth.management import create_permissions
from django.db import migrations

LIKELY_LOW = {"en": "Not at all likely", "da": "Slet ikke sandsynligt", "ru": "Совсем маловероятно",
              "ko": "전혀 그렇지 않다", "zh-hans": "完全不可能"}
LIKELY_HIGH = {"en": "Extremely likely", "da": "Meget sandsynligt", "ru": "Очень вероятно",
               "ko": "매우 그렇다", "zh-hans": "非常可能"}

SURVEYS = [
    {
        "name": "NPS",
        "kind": "nps",
        "title": {"en": "Would you recommend us?", "da": "Vil du anbefale os?", "ru": "Порекомендуете ли вы нас?",
                  "ko": "저희를 추천하시겠습니까?", "zh-hans": "您会推荐我们吗？"},
        "questions": [
            dict(key="score", type="scale", scale_min=0, scale_max=10, required=True, low_label=LIKELY_LOW,
                 high_label=LIKELY_HIGH,
                 text={"en": "How likely are you to recommend us to a friend or colleague?",
                       "da": "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?",
                       "ru": "Насколько вероятно, что вы порекомендуете нас другу или коллеге?",
                       "ko": "저희를 친구나 동료에게 추천할 가능성은 얼마나 됩니까?",
                       "zh-hans": "您向朋友或同事推荐我们的可能性有多大？"}),
            dict(key="reason", type="text", required=False,
                 text={"en": "What is the main reason for your score?",
                       "da": "Hvad er den vigtigste grund til din vurdering?",
                       "ru": "Какова главная причина вашей оценки?",
                       "ko": "그 점수를 주신 주된 이유는 무엇입니까?",
                       "zh-hans": "您给出这个分数的主要原因是什么？"}),
        ],
    },
    {
        "name": "CSAT",
        "kind": "csat",
        "title": {"en": "How did we do?", "da": "Hvordan klarede vi os?", "ru": "Как мы справились?",
                  "ko": "저희 서비스는 어떠셨나요?", "zh-hans": "我们做得怎么样？"},
        "questions": [
            dict(key="score", type="scale", scale_min=1, scale_max=5, required=True,
                 low_label={"en": "Very dissatisfied", "da": "Meget utilfreds", "ru": "Совсем не доволен",
                            "ko": "매우 불만족", "zh-hans": "非常不满意"},
                 high_label={"en": "Very satisfied", "da": "Meget tilfreds", "ru": "Очень доволен",
                             "ko": "매우 만족", "zh-hans": "非常满意"},
                 text={"en": "How satisfied are you with the help you received?",
                       "da": "Hvor tilfreds er du med den hjælp, du fik?",
                       "ru": "Насколько вы довольны полученной помощью?",
                       "ko": "받으신 도움에 얼마나 만족하십니까?",
                       "zh-hans": "您对获得的帮助有多满意？"}),
            dict(key="comment", type="text", required=False,
                 text={"en": "Anything you would like to add?", "da": "Er der noget, du vil tilføje?",
                       "ru": "Хотите что-нибудь добавить?", "ko": "덧붙이고 싶은 말씀이 있으신가요?",
                       "zh-hans": "您还有什么想补充的吗？"}),
        ],
    },
    {
        "name": "CLI",
        "kind": "cli",
        "title": {"en": "Your opinion of us", "da": "Din mening om os", "ru": "Ваше мнение о нас",
                  "ko": "저희에 대한 의견", "zh-hans": "您对我们的看法"},
        "questions": [
            dict(key="recommend", type="scale", scale_min=1, scale_max=6, required=True, low_label=LIKELY_LOW,
                 high_label=LIKELY_HIGH,
                 text={"en": "How likely are you to recommend us?",
                       "da": "Hvor sandsynligt er det, at du vil anbefale os?",
                       "ru": "Насколько вероятно, что вы порекомендуете нас?",
                       "ko": "저희를 추천할 가능성은 얼마나 됩니까?", "zh-hans": "您推荐我们的可能性有多大？"}),
            dict(key="rebuy", type="scale", scale_min=1, scale_max=6, required=True, low_label=LIKELY_LOW,
                 high_label=LIKELY_HIGH,
                 text={"en": "How likely are you to buy from us again?",
                       "da": "Hvor sandsynligt er det, at du vil købe hos os igen?",
                       "ru": "Насколько вероятно, что вы снова купите у нас?",
                       "ko": "저희에게서 다시 구매할 가능성은 얼마나 됩니까?", "zh-hans": "您再次向我们购买的可能性有多大？"}),
            dict(key="try", type="scale", scale_min=1, scale_max=6, required=True, low_label=LIKELY_LOW,
                 high_label=LIKELY_HIGH,
                 text={"en": "How likely are you to try our other products?",
                       "da": "Hvor sandsynligt er det, at du vil prøve vores andre produkter?",
                       "ru": "Насколько вероятно, что вы попробуете другие наши товары?",
                       "ko": "저희의 다른 제품을 사용해 볼 가능성은 얼마나 됩니까?", "zh-hans": "您尝试我们其他产品的可能性有多大？"}),
        ],
    },
]

# trigger kind, survey kind, switched on
TRIGGERS = [("csat_after_ticket", "csat", True), ("nps_periodic", "nps", True), ("cli_repeat", "cli", False)]

SURVEY_MODELS = ("survey", "question", "surveytrigger", "surveyinvitation", "surveyresponse", "surveycampaign")
AGENT = {"feedback": ["view_survey", "view_question", "view_surveytrigger", "view_surveyinvitation",
                      "add_surveyinvitation", "view_surveyresponse"], "customers": ["view_unsubscribe"]}
MANAGER = {
    "feedback": [*(f"{action}_{model}" for model in SURVEY_MODELS for action in ("view", "add", "change", "delete")),
                 "view_survey_metrics", "export_surveyresponse"],
    "customers": ["view_unsubscribe", "add_unsubscribe", "delete_unsubscribe"],
}


def forwards(apps, schema_editor):
    for label in ("feedback", "customers"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Survey = apps.get_model("feedback", "Survey")
    Question = apps.get_model("feedback", "Question")
    SurveyTrigger = apps.get_model("feedback", "SurveyTrigger")
    by_kind = {}
    for spec in SURVEYS:
        survey, created = Survey.objects.get_or_create(
            name=spec["name"], defaults={"kind": spec["kind"], "title": spec["title"], "link_days": 30}
        )
        by_kind[spec["kind"]] = survey
        if created:
            for position, question in enumerate(spec["questions"]):
                Question.objects.create(survey=survey, position=position, **question)
    for kind, survey_kind, enabled in TRIGGERS:
        SurveyTrigger.objects.get_or_create(
            kind=kind,
            defaults={"survey": by_kind[survey_kind], "enabled": enabled, "delay": timedelta(hours=1),
                      "first_after_days": 14, "every_days": 90},
        )

    # An unhappy survey answer opens a feedback ticket of high priority under its own SLA.
    SlaPolicy = apps.get_model("feedback", "SlaPolicy")
    SlaPolicy.objects.get_or_create(
        name="Unhappy survey answer",
        defaults={"position": 5, "kind": "feedback", "priority": "high", "answer_within": timedelta(hours=4),
                  "resolve_within": timedelta(days=2), "follow_up_every": timedelta(days=1),
                  "warn_before": timedelta(hours=4)},
    )

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, by_app in (("Support agent", AGENT), ("Support manager", MANAGER)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codenames in by_app.items():
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))


def backwards(apps, schema_editor):
    apps.get_model("feedback", "SurveyTrigger").objects.all().delete()
    apps.get_model("feedback", "SlaPolicy").objects.filter(name="Unhappy survey answer").delete()


class Migration(migrations.Migration):
    dependencies = [("feedback", "0003_surveys"), ("customers", "0008_unsubscribe")]

    operations = [migrations.RunPython(forwards, backwards)]
