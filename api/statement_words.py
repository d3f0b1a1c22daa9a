"""The words of the printable statement (``api.statement_report``), in each language.

One table, language -> message -> text: Dutch (the municipality's own, and the
default), English, Turkish and Arabic, the languages ``ledger.amounts`` has
hour words for. Texts are plain (the page escapes them); ``{name}`` marks a
value put in (a figure, a date, a name). Signs (plus, minus, equals) and figures
are not words and stay with the page. The pages' gettext catalogs live in
``mobile_web``, which ``api`` cannot import; where a term is also on the
municipality's dashboard, the same word is used here.
"""

# Turkish is written with the dotless i (U+0131), which ruff takes for a confusable i.
# ruff: noqa: RUF001

from __future__ import annotations

from ledger.amounts import DEFAULT_LANGUAGE, LANGUAGES

# The scheme's Dutch terms, shown after a heading in the other languages.
DUTCH_TERMS = {
    "statement": "verantwoording",
    "organisations": "uitgevende organisaties",
    "shops": "winkels en partners",
    "members": "deelnemers",
}

WORDS: dict[str, dict[str, str]] = {
    "nl": {
        "page_title": "Buurtmunt-verantwoording: {community}, {period}",
        "statement": "Verantwoording van omloop en verplichtingen",
        "intro": (
            "Gemeenschap {community}, periode {period} ({span}, maanden in UTC). "
            "Bedragen in uren tegoed: 1 tegoed = 1 uur."
        ),
        "span": "{first} tot en met {last}",
        "computed_from": (
            "Berekend uit het ondertekende controlepunt van {origin} met omvang {size} "
            "en wortelhash {root}."
        ),
        "computed_from_as_of": (
            "Berekend uit het ondertekende controlepunt van {origin} met omvang {size} "
            "en wortelhash {root}, laatste boeking op {time}."
        ),
        "reconciles": (
            "Het overzicht sluit: de cijfers tellen op tot de som van de saldi van "
            "deelnemers en winkels."
        ),
        "does_not_reconcile": "Het overzicht sluit NIET. Vertrouw er niet op.",
        "circulation": "Omloop",
        "circulation_caption": (
            "Uren in handen van deelnemers en winkels: de verplichting van de regeling"
        ),
        "movement": "Beweging",
        "members_column": "Deelnemers",
        "shops_column": "Winkels",
        "total": "Totaal",
        "outstanding_start": "Uitstaand aan het begin",
        "earned": "Verdiend (uitgegeven door organisaties)",
        "earn_corrected": "Verdiensten gecorrigeerd",
        "transferred": "Overgemaakt tussen deelnemers",
        "net_zero": "(netto 0)",
        "redeemed_at_shops": "Besteed bij winkels",
        "refunded_by_shops": "Teruggegeven door winkels",
        "settled_by_community": "Uitbetaald (ingetrokken door de gemeenschap)",
        "settle_corrected": "Uitbetalingen gecorrigeerd",
        "outstanding_end": "Uitstaand aan het eind",
        "replayed": "Som van de saldi, opnieuw berekend uit het journaal",
        "month_by_month": "Maand voor maand",
        "bars_caption": "Uitgegeven (verdiende) en bij winkels bestede uren per maand.",
        "line_caption": (
            "Uitstaande uren (in handen van deelnemers en winkels) aan het eind van elke maand."
        ),
        "bars_title": "Uitgegeven en bestede uren per maand",
        "bars_point": "{month}: uitgegeven {issued}, besteed {redeemed}",
        "line_title": "Uitstaande uren aan het eind van elke maand",
        "line_point": "{month}: {outstanding}",
        "separator": "; ",
        "issued": "Uitgegeven",
        "redeemed": "Besteed",
        "outstanding": "Uitstaand",
        "organisations": "Uitgevende organisaties",
        "organisations_caption": (
            "Uitgegeven uren tegenover het budget van elke organisatie in de periode"
        ),
        "organisation": "Organisatie",
        "corrected": "Gecorrigeerd",
        "net_issued": "Netto uitgegeven",
        "budget": "Budget",
        "budget_used": "Budget gebruikt",
        "percent": "{percent}%",
        "shops": "Winkels en partners",
        "shops_caption": "Bestede, teruggegeven en uitbetaalde uren per winkel in de periode",
        "shop": "Winkel",
        "refunded": "Teruggegeven",
        "settled": "Uitbetaald",
        "held_at_end": "In bezit aan het eind",
        "members": "Deelnemers",
        "members_caption": "Activiteit van deelnemers in de periode",
        "number": "Aantal",
        "members_end": "Deelnemers aan het eind van de periode",
        "active": "Actief (betaalden of werden betaald)",
        "new": "Nieuw (ingeschreven in de periode)",
        "dormant": "Slapend (eerder ingeschreven, niet actief)",
        "none": "Geen in deze periode.",
        "footer": (
            "Iedereen kan het journaal achter deze cijfers offline controleren: exporteer het "
            "met {export} en voer {verify} uit met de openbare sleutel van de gemeenschap; het "
            "controlepunt hierboven moet bij de controlepunten horen die het controleert "
            "(omvang {size})."
        ),
    },
    "en": {
        "page_title": "Buurtmunt statement: {community}, {period}",
        "statement": "Circulation and liability statement",
        "intro": (
            "Community {community}, period {period} ({span}, months in UTC). "
            "Amounts are credits: 1 credit = 1 hour."
        ),
        "span": "{first} to {last}",
        "computed_from": (
            "Computed from the signed checkpoint of {origin} at size {size} with root {root}."
        ),
        "computed_from_as_of": (
            "Computed from the signed checkpoint of {origin} at size {size} with root {root}, "
            "last entry at {time}."
        ),
        "reconciles": (
            "The statement reconciles: the figures add up to the sum of member and shop balances."
        ),
        "does_not_reconcile": "The statement does NOT reconcile. Do not rely on it.",
        "circulation": "Circulation",
        "circulation_caption": "Credits held by members and shops: the scheme's liability",
        "movement": "Movement",
        "members_column": "Members",
        "shops_column": "Shops",
        "total": "Total",
        "outstanding_start": "Outstanding at the start",
        "earned": "Earned (issued by organisations)",
        "earn_corrected": "Earnings corrected",
        "transferred": "Transferred between members",
        "net_zero": "(net 0)",
        "redeemed_at_shops": "Redeemed at shops",
        "refunded_by_shops": "Refunded by shops",
        "settled_by_community": "Settled (retired by the community)",
        "settle_corrected": "Settlements corrected",
        "outstanding_end": "Outstanding at the end",
        "replayed": "Sum of balances, replayed from the journal",
        "month_by_month": "Month by month",
        "bars_caption": "Credits issued (earned) and redeemed at shops per month.",
        "line_caption": (
            "Credits outstanding (held by members and shops) at the end of each month."
        ),
        "bars_title": "Credits issued and redeemed per month",
        "bars_point": "{month}: issued {issued}, redeemed {redeemed}",
        "line_title": "Credits outstanding at the end of each month",
        "line_point": "{month}: {outstanding}",
        "separator": "; ",
        "issued": "Issued",
        "redeemed": "Redeemed",
        "outstanding": "Outstanding",
        "organisations": "Organisations",
        "organisations_caption": (
            "Credits issued against each organisation's budget in the period"
        ),
        "organisation": "Organisation",
        "corrected": "Corrected",
        "net_issued": "Net issued",
        "budget": "Budget",
        "budget_used": "Budget used",
        "percent": "{percent}%",
        "shops": "Shops and partners",
        "shops_caption": "Credits redeemed, refunded and settled per shop in the period",
        "shop": "Shop",
        "refunded": "Refunded",
        "settled": "Settled",
        "held_at_end": "Held at the end",
        "members": "Members",
        "members_caption": "Member activity in the period",
        "number": "Number",
        "members_end": "Members at the end of the period",
        "active": "Active (paid or were paid)",
        "new": "New (joined in the period)",
        "dormant": "Dormant (joined earlier, not active)",
        "none": "None in this period.",
        "footer": (
            "Anyone can check the journal behind these figures offline: export it with "
            "{export} and run {verify} with the community's public key; the checkpoint above "
            "must be among those it verifies (size {size})."
        ),
    },
    "tr": {
        "page_title": "Buurtmunt dökümü: {community}, {period}",
        "statement": "Dolaşım ve yükümlülük dökümü",
        "intro": (
            "Topluluk {community}, dönem {period} ({span}, aylar UTC'ye göre). "
            "Tutarlar saat kredisidir: 1 kredi = 1 saat."
        ),
        "span": "{first} ile {last} arası",
        "computed_from": (
            "{origin} kaynağının imzalı kontrol noktasından hesaplandı: boyut {size}, kök {root}."
        ),
        "computed_from_as_of": (
            "{origin} kaynağının imzalı kontrol noktasından hesaplandı: boyut {size}, "
            "kök {root}, son kayıt {time}."
        ),
        "reconciles": ("Döküm tutarlı: rakamlar katılımcı ve dükkân bakiyelerinin toplamına eşit."),
        "does_not_reconcile": "Döküm tutarlı DEĞİL. Ona güvenmeyin.",
        "circulation": "Dolaşım",
        "circulation_caption": (
            "Katılımcıların ve dükkânların elindeki krediler: programın yükümlülüğü"
        ),
        "movement": "Hareket",
        "members_column": "Katılımcılar",
        "shops_column": "Dükkânlar",
        "total": "Toplam",
        "outstanding_start": "Başta dolaşımda",
        "earned": "Kazanılan (kuruluşlarca verilen)",
        "earn_corrected": "Düzeltilen kazançlar",
        "transferred": "Katılımcılar arasında aktarılan",
        "net_zero": "(net 0)",
        "redeemed_at_shops": "Dükkânlarda harcanan",
        "refunded_by_shops": "Dükkânlarca geri verilen",
        "settled_by_community": "Ödenen (topluluk tarafından geri alınan)",
        "settle_corrected": "Düzeltilen ödemeler",
        "outstanding_end": "Sonda dolaşımda",
        "replayed": "Defterden yeniden hesaplanan bakiyelerin toplamı",
        "month_by_month": "Ay ay",
        "bars_caption": "Her ay verilen (kazanılan) ve dükkânlarda harcanan krediler.",
        "line_caption": (
            "Her ay sonunda dolaşımdaki krediler (katılımcıların ve dükkânların elinde)."
        ),
        "bars_title": "Her ay verilen ve harcanan krediler",
        "bars_point": "{month}: verilen {issued}, harcanan {redeemed}",
        "line_title": "Her ay sonunda dolaşımdaki krediler",
        "line_point": "{month}: {outstanding}",
        "separator": "; ",
        "issued": "Verilen",
        "redeemed": "Harcanan",
        "outstanding": "Dolaşımda",
        "organisations": "Kuruluşlar",
        "organisations_caption": "Dönemde her kuruluşun bütçesine karşı verilen krediler",
        "organisation": "Kuruluş",
        "corrected": "Düzeltilen",
        "net_issued": "Net verilen",
        "budget": "Bütçe",
        "budget_used": "Kullanılan bütçe",
        "percent": "%{percent}",
        "shops": "Dükkânlar ve ortaklar",
        "shops_caption": "Dönemde dükkân başına harcanan, geri verilen ve ödenen krediler",
        "shop": "Dükkân",
        "refunded": "Geri verilen",
        "settled": "Ödenen",
        "held_at_end": "Sonda elde",
        "members": "Katılımcılar",
        "members_caption": "Dönemde katılımcı etkinliği",
        "number": "Sayı",
        "members_end": "Dönem sonunda katılımcılar",
        "active": "Etkin (ödedi veya ödeme aldı)",
        "new": "Yeni (dönemde katıldı)",
        "dormant": "Hareketsiz (daha önce katıldı, etkin değil)",
        "none": "Bu dönemde yok.",
        "footer": (
            "Bu rakamların arkasındaki defteri herkes çevrimdışı kontrol edebilir: {export} ile "
            "dışa aktarın ve topluluğun açık anahtarıyla {verify} çalıştırın; yukarıdaki "
            "kontrol noktası doğrulananlar arasında olmalıdır (boyut {size})."
        ),
    },
    "ar": {
        "page_title": "كشف Buurtmunt: {community}، {period}",
        "statement": "كشف التداول والالتزامات",
        "intro": (
            "المجتمع {community}، الفترة {period} ({span}، الأشهر بتوقيت UTC). "
            "المبالغ بساعات الرصيد: 1 رصيد = 1 ساعة."
        ),
        "span": "من {first} إلى {last}",
        "computed_from": (
            "محسوب من نقطة التحقق الموقعة لـ {origin} عند الحجم {size} بالجذر {root}."
        ),
        "computed_from_as_of": (
            "محسوب من نقطة التحقق الموقعة لـ {origin} عند الحجم {size} بالجذر {root}، "
            "وآخر قيد في {time}."
        ),
        "reconciles": "الكشف متوازن: الأرقام تساوي مجموع أرصدة المشاركين والمتاجر.",
        "does_not_reconcile": "الكشف غير متوازن. لا تعتمد عليه.",
        "circulation": "التداول",
        "circulation_caption": "الرصيد الذي يملكه المشاركون والمتاجر: التزام البرنامج",
        "movement": "الحركة",
        "members_column": "المشاركون",
        "shops_column": "المتاجر",
        "total": "المجموع",
        "outstanding_start": "القائم في البداية",
        "earned": "المكتسب (أصدرته المنظمات)",
        "earn_corrected": "تصحيحات المكتسب",
        "transferred": "المحوَّل بين المشاركين",
        "net_zero": "(الصافي 0)",
        "redeemed_at_shops": "المُنفَق في المتاجر",
        "refunded_by_shops": "المُعاد من المتاجر",
        "settled_by_community": "المُسوّى (سحبه المجتمع)",
        "settle_corrected": "تصحيحات التسويات",
        "outstanding_end": "القائم في النهاية",
        "replayed": "مجموع الأرصدة، محسوبًا من جديد من السجل",
        "month_by_month": "شهرًا بشهر",
        "bars_caption": "الرصيد المُصدَر (المكتسب) والمُنفَق في المتاجر كل شهر.",
        "line_caption": "الرصيد القائم (لدى المشاركين والمتاجر) في نهاية كل شهر.",
        "bars_title": "الرصيد المُصدَر والمُنفَق كل شهر",
        "bars_point": "{month}: المُصدَر {issued}، المُنفَق {redeemed}",
        "line_title": "الرصيد القائم في نهاية كل شهر",
        "line_point": "{month}: {outstanding}",
        "separator": "؛ ",
        "issued": "المُصدَر",
        "redeemed": "المُنفَق",
        "outstanding": "القائم",
        "organisations": "المنظمات",
        "organisations_caption": "الرصيد المُصدَر مقابل ميزانية كل منظمة في الفترة",
        "organisation": "المنظمة",
        "corrected": "المُصحَّح",
        "net_issued": "صافي المُصدَر",
        "budget": "الميزانية",
        "budget_used": "المستخدم من الميزانية",
        "percent": "{percent}٪",
        "shops": "المتاجر والشركاء",
        "shops_caption": "الرصيد المُنفَق والمُعاد والمُسوّى لكل متجر في الفترة",
        "shop": "المتجر",
        "refunded": "المُعاد",
        "settled": "المُسوّى",
        "held_at_end": "المحتفظ به في النهاية",
        "members": "المشاركون",
        "members_caption": "نشاط المشاركين في الفترة",
        "number": "العدد",
        "members_end": "المشاركون في نهاية الفترة",
        "active": "النشطون (دفعوا أو دُفع لهم)",
        "new": "الجدد (انضموا في الفترة)",
        "dormant": "الخاملون (انضموا سابقًا، غير نشطين)",
        "none": "لا شيء في هذه الفترة.",
        "footer": (
            "يمكن لأي شخص التحقق من السجل وراء هذه الأرقام دون اتصال: صدّره بالأمر {export} "
            "وشغّل {verify} بالمفتاح العام للمجتمع؛ يجب أن تكون نقطة التحقق أعلاه من بين "
            "النقاط التي يتحقق منها (الحجم {size})."
        ),
    },
}
assert set(WORDS) == set(LANGUAGES), "one table per language"
assert DEFAULT_LANGUAGE in WORDS
