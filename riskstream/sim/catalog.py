"""What the simulated marketplace sells, and the term lists and baselines behind it.

Everything the simulator draws from lives here, so the policies written for the
detectors can be *checked* against it (does the EU policy list the recalled
sleeper's terms? is the luxury price floor below the brand baseline?).  Never
import this module, or the simulator's labels, into detection: the point of the
simulation is that detectors learn the market from the stream.

>>> COUNTRIES["DE"].currency, COUNTRIES["TH"].language
('EUR', 'th')
>>> sorted(MANDATORY[("EU", "toys")].certifications)
['CE']
>>> BRAND_BASELINES_EUR["Castellane"] > 1000
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

HarmKind = Literal[
    "illegal_goods", "counterfeit", "non_compliance", "fake_reviews", "product_safety", "harmful_content"
]

DETECTOR_IDS: Final[tuple[str, ...]] = (
    "prohibited_terms", "category_rules", "mandatory_attributes", "price_outlier", "new_seller_burst",
    "new_seller_wave", "recall_match", "mixed_script", "image_reuse", "review_burst", "review_near_duplicate",
    "rating_skew", "safety_complaints",
    "content_prohibited", "health_claims", "undisclosed_promotion",
)


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    language: str
    currency: str
    eur_rate: float  # units of local currency per euro
    utc_offset: int  # hours; fixed (no DST) so the cycle is reproducible
    weight: float  # share of global traffic


COUNTRIES: Final[dict[str, Country]] = {
    c.code: c
    for c in (
        Country("DE", "de", "EUR", 1.0, 1, 0.13),
        Country("FR", "fr", "EUR", 1.0, 1, 0.10),
        Country("ES", "es", "EUR", 1.0, 1, 0.07),
        Country("IT", "it", "EUR", 1.0, 1, 0.06),
        Country("NL", "nl", "EUR", 1.0, 1, 0.04),
        Country("GB", "en", "GBP", 0.85, 0, 0.10),
        Country("US", "en", "USD", 1.08, -5, 0.30),
        Country("SG", "en", "SGD", 1.45, 8, 0.06),
        Country("MY", "ms", "MYR", 5.1, 8, 0.07),
        Country("TH", "th", "THB", 38.0, 7, 0.07),
    )
}

# Currencies quoted without minor units on marketplaces.
WHOLE_CURRENCIES: Final[frozenset[str]] = frozenset({"THB"})

Category = Literal[
    "toys", "electronics", "radio_devices", "cosmetics", "supplements", "baby", "fashion",
    "luxury_bags", "home",
    # Regulated goods (`REGULATED_PRODUCTS`): the category paths the shipped policies' `category_rules`
    # name, and look-alikes next to them that no rule covers.
    "tobacco/nicotine_pouches", "tobacco/e_cigarettes", "tobacco/heated_tobacco", "tobacco/cigars",
    "tobacco_accessories", "alcohol/spirits", "alcohol/wine", "alcohol_free_drinks",
    "health/supplements/melatonin", "home/kitchen/knives", "home/kitchen/knife_sharpeners",
    "weaponsmith_books", "electronics/electrical",
]


@dataclass(frozen=True, slots=True)
class Product:
    key: str
    category: Category
    median_eur: float
    titles: dict[str, str]  # language -> title; "en" always present
    brands: tuple[str, ...] = ()


def _p(key: str, category: Category, median: float, brands: tuple[str, ...], **titles: str) -> Product:
    return Product(key, category, median, dict(titles), brands)


PRODUCTS: Final[tuple[Product, ...]] = (
    _p("train", "toys", 29, ("Kidora", "Holzwerk"), en="Wooden train set 40 pcs",
       de="Holzeisenbahn Set 40 Teile", fr="Train en bois 40 pièces", es="Tren de madera 40 piezas",
       it="Trenino in legno 40 pezzi", nl="Houten treinset 40 delig", th="ชุดรถไฟไม้ 40 ชิ้น"),
    _p("blocks", "toys", 35, ("Kidora", "BrikPlay"), en="Building blocks 500 pieces",
       de="Bausteine 500 Teile", fr="Blocs de construction 500 pièces", es="Bloques de construcción 500",
       ms="Blok binaan 500 keping"),
    _p("plush", "toys", 18, ("Kidora", "Snugglo"), en="Soft plush teddy bear 30cm",
       de="Plüsch Teddybär 30cm", fr="Ours en peluche 30cm", it="Orsetto di peluche 30cm"),
    _p("water_gun", "toys", 12, ("SplashCo",), en="Toy water gun pump action 2-pack",
       de="Wasserpistole Spielzeug 2er Pack", fr="Pistolet à eau jouet lot de 2",
       es="Pistola de agua de juguete pack 2", th="ปืนฉีดน้ำของเล่น แพ็ค 2"),
    _p("puzzle", "toys", 16, ("Ravenhill",), en="Jigsaw puzzle 1000 pieces landscape",
       de="Puzzle 1000 Teile Landschaft", nl="Legpuzzel 1000 stukjes landschap"),
    _p("charger", "electronics", 32, ("Voltmax", "Ampero"), en="USB-C fast charger 65W GaN",
       de="USB-C Schnellladegerät 65W GaN", fr="Chargeur rapide USB-C 65W", es="Cargador rápido USB-C 65W",
       ms="Pengecas pantas USB-C 65W"),
    _p("earbuds", "electronics", 49, ("Sonivo", "Ampero"), en="Wireless earbuds noise cancelling",
       de="Kabellose Ohrhörer mit Geräuschunterdrückung", fr="Écouteurs sans fil réduction de bruit",
       it="Auricolari wireless cancellazione rumore", th="หูฟังไร้สาย ตัดเสียงรบกวน"),
    _p("powerbank", "electronics", 29, ("Voltmax", "Ampero"), en="Power bank 20000mAh PD",
       de="Powerbank 20000mAh PD", fr="Batterie externe 20000mAh", es="Batería externa 20000mAh"),
    _p("speaker", "electronics", 59, ("Sonivo",), en="Bluetooth speaker waterproof",
       de="Bluetooth Lautsprecher wasserdicht", nl="Bluetooth speaker waterdicht"),
    _p("walkie", "radio_devices", 45, ("Talkwell",), en="Walkie talkie pair 5km range",
       de="Funkgeräte Set 5km Reichweite", fr="Talkie-walkie paire portée 5km"),
    _p("router", "radio_devices", 89, ("Netlynx",), en="WiFi 6 router dual band",
       de="WLAN Router WiFi 6 Dualband", es="Router WiFi 6 doble banda", th="เราเตอร์ WiFi 6"),
    _p("drone", "radio_devices", 149, ("Skyvo",), en="Mini drone with 4K camera",
       de="Mini Drohne mit 4K Kamera", fr="Mini drone caméra 4K", it="Mini drone con fotocamera 4K"),
    _p("serum", "cosmetics", 19, ("Lumea", "Glowra"), en="Vitamin C face serum 30ml",
       de="Vitamin C Gesichtsserum 30ml", fr="Sérum visage vitamine C 30ml", th="เซรั่มวิตามินซี 30ml"),
    _p("lipstick", "cosmetics", 14, ("Glowra",), en="Matte lipstick long lasting",
       fr="Rouge à lèvres mat longue tenue", es="Pintalabios mate larga duración"),
    _p("sunscreen", "cosmetics", 16, ("Lumea",), en="Sunscreen SPF50 200ml",
       de="Sonnencreme LSF 50 200ml", it="Crema solare SPF50 200ml", ms="Pelindung matahari SPF50"),
    _p("vitd", "supplements", 12, ("Nutrava", "VitaCore"), en="Vitamin D3 2000 IU 120 capsules",
       de="Vitamin D3 2000 IE 120 Kapseln", fr="Vitamine D3 2000 UI 120 gélules"),
    _p("whey", "supplements", 34, ("VitaCore", "Musclon"), en="Whey protein 1kg chocolate",
       de="Whey Protein 1kg Schokolade", es="Proteína whey 1kg chocolate", th="เวย์โปรตีน 1kg"),
    _p("omega", "supplements", 19, ("Nutrava",), en="Omega-3 fish oil 90 softgels",
       nl="Omega-3 visolie 90 capsules", it="Olio di pesce omega-3 90 perle"),
    _p("sleepbag", "baby", 39, ("Nestling",), en="Baby sleeping bag 2.5 tog",
       de="Baby Schlafsack 2.5 TOG", fr="Gigoteuse bébé 2.5 tog", nl="Baby slaapzak 2.5 tog"),
    _p("stroller", "baby", 229, ("Nestling", "Rollo"), en="Lightweight travel stroller",
       de="Leichter Reisebuggy", es="Silla de paseo ligera", ms="Kereta sorong bayi ringan"),
    _p("bottles", "baby", 24, ("Nestling",), en="Baby bottle set anti-colic 4 pcs",
       de="Babyflaschen Set Anti-Kolik 4 Stück", fr="Biberons anti-colique lot de 4"),
    _p("tshirt", "fashion", 19, ("Norde", "Alba"), en="Organic cotton t-shirt",
       de="Bio Baumwoll T-Shirt", fr="T-shirt coton bio", es="Camiseta algodón orgánico"),
    _p("blouse", "fashion", 39, ("Alba",), en="Ivory white linen blouse",
       de="Leinenbluse elfenbeinweiß", fr="Chemisier en lin blanc ivoire", it="Camicetta di lino avorio"),
    _p("jacket", "fashion", 69, ("Norde",), en="Denim jacket classic fit",
       de="Jeansjacke klassisch", th="แจ็คเก็ตยีนส์"),
    _p("sneakers", "fashion", 79, ("Strider",), en="Running sneakers lightweight",
       fr="Baskets de running légères", nl="Hardloopschoenen licht"),
    _p("bag_castellane", "luxury_bags", 2800, ("Castellane",), en="Castellane Classic Flap Bag medium",
       fr="Sac Castellane Classique à rabat moyen"),
    _p("bag_valere", "luxury_bags", 3500, ("Maison Valère",), en="Maison Valère Kelly-style tote leather",
       fr="Cabas Maison Valère cuir"),
    _p("bag_orsini", "luxury_bags", 1900, ("Orsini Milano",), en="Orsini Milano shoulder bag",
       it="Borsa a spalla Orsini Milano"),
    _p("candle", "home", 22, ("Hearth",), en="Scented soy candle lavender",
       de="Duftkerze Soja Lavendel", fr="Bougie parfumée soja lavande", th="เทียนหอมลาเวนเดอร์"),
    _p("knives", "home", 59, ("Nordwerk",), en="Kitchen knife set 6 pieces with block",
       de="Küchenmesser Set 6-teilig mit Block", es="Juego de cuchillos de cocina 6 piezas"),
    _p("lamp", "home", 34, ("Lumo",), en="LED desk lamp dimmable",
       de="LED Schreibtischlampe dimmbar", nl="LED bureaulamp dimbaar", ms="Lampu meja LED"),
)

# Regulated goods: never in the honest catalogue above (so the background and the listings that
# existed before the run stay as they were), listed only by the category scenarios
# (`scenarios.banned_category`, `scenarios.unlicensed_seller`) and the honest near-misses
# (`honest.generate_near_misses`).  What the shipped policies say about each category (real law):
# * tobacco/nicotine_pouches: banned nationally in FR and NL (and BE), the EU policy's
#   `banned_by_country`; the US policy restricts every `tobacco` product to licensed sellers.
# * tobacco/e_cigarettes: banned in SG (Tobacco (Control of Advertisements and Sale) Act s.16) and
#   TH (import and sale prohibited); a licence is needed in MY (Control of Smoking Products for Public
#   Health Act 2024).  tobacco/heated_tobacco: banned in SG.
# * tobacco/cigars, alcohol/*: a licence is needed in the US (state tobacco and alcohol licensing).
# * health/supplements/melatonin: a medicine at higher doses in DE and NL: pharmacy licence needed.
# * home/kitchen/knives: UK, age verification at sale and delivery (Criminal Justice Act 1988
#   s.141A, Offensive Weapons Act 2019 ss.38-39).
# * electronics/electrical: MY, Energy Commission approval and a SIRIM label (Electricity
#   Regulations 1994, reg. 97).
# * tobacco_accessories, alcohol_free_drinks, home/kitchen/knife_sharpeners, weaponsmith_books:
#   look-alikes of those paths that no rule covers (a rule on `tobacco` covers `tobacco/cigars`,
#   not `tobacco_accessories`).
REGULATED_PRODUCTS: Final[tuple[Product, ...]] = (
    _p("pouches", "tobacco/nicotine_pouches", 6, ("Frostbite", "Nordic Loop"),
       en="Nicotine pouches ice mint 16 mg, 20 pouches", fr="Sachets de nicotine menthe glaciale 16 mg",
       nl="Nicotinezakjes ice mint 16 mg, 20 stuks"),
    _p("disposable_vape", "tobacco/e_cigarettes", 12, ("Vaporex", "CloudPuff"),
       en="Disposable vape 6000 puffs watermelon ice", ms="Rokok elektronik pakai buang 6000 sedutan",
       th="บุหรี่ไฟฟ้า ใช้แล้วทิ้ง 6000 คำ"),
    _p("pod_kit", "tobacco/e_cigarettes", 25, ("Vaporex",), en="Refillable pod system starter kit 2ml",
       th="ชุดพอตเติมน้ำยา 2ml"),
    _p("heat_sticks", "tobacco/heated_tobacco", 8, ("Amberleaf",), en="Heated tobacco sticks amber, 10 packs"),
    _p("cigars", "tobacco/cigars", 45, ("Casa Verde",), en="Premium hand-rolled cigars, box of 10"),
    _p("pipe_stand", "tobacco_accessories", 24, ("Hearth",), en="Walnut pipe stand for six pipes"),
    _p("whisky", "alcohol/spirits", 38, ("Glen Moray Hill",), en="Single malt whisky 12 years 70cl"),
    _p("red_wine", "alcohol/wine", 18, ("Vallée Rouge",), en="Cabernet Sauvignon red wine 2021, 6 bottles"),
    _p("na_beer", "alcohol_free_drinks", 16, ("Clearhop",), en="Non-alcoholic craft IPA 0.0%, 12 cans"),
    _p("melatonin", "health/supplements/melatonin", 11, ("Nutrava", "SomnoVit"),
       en="Melatonin 5 mg sleep aid, 120 tablets", de="Melatonin 5 mg Einschlaf-Tabletten 120 Stück",
       nl="Melatonine 3 mg slaaptabletten 90 stuks"),
    _p("melatonin_spray", "health/supplements/melatonin", 14, ("SomnoVit",), en="Melatonin sleep spray 1 mg",
       de="Melatonin Schlafspray 1 mg pro Sprühstoß", nl="Melatonine slaapspray 1 mg"),
    _p("chef_knife", "home/kitchen/knives", 49, ("Nordwerk",), en="Chef's knife 20cm forged steel"),
    _p("knife_block", "home/kitchen/knives", 89, ("Nordwerk",), en="Kitchen knife block set, 5 knives"),
    _p("whetstone", "home/kitchen/knife_sharpeners", 29, ("Nordwerk",), en="Whetstone knife sharpener 1000/6000"),
    _p("forging_book", "weaponsmith_books", 21, ("Anvil Press",),
       en="Bladesmithing for beginners: forging your first knife (paperback)"),
    _p("rice_cooker", "electronics/electrical", 45, ("Kukio",), en="Electric rice cooker 1.8L",
       ms="Periuk nasi elektrik 1.8L"),
    _p("kettle", "electronics/electrical", 25, ("Kukio",), en="Electric kettle 1.7L stainless steel",
       ms="Cerek elektrik 1.7L keluli tahan karat"),
)

CATEGORY_WEIGHTS: Final[dict[Category, float]] = {
    "toys": 0.14, "electronics": 0.16, "radio_devices": 0.06, "cosmetics": 0.12, "supplements": 0.08,
    "baby": 0.08, "fashion": 0.22, "luxury_bags": 0.03, "home": 0.11,
}

PRICE_SIGMA: Final = 0.3  # log-normal spread of honest prices around a product's median

# Luxury brands and their usual new price in EUR; honest pre-owned goes for 40-70% of it.
BRAND_BASELINES_EUR: Final[dict[str, float]] = {"Castellane": 2800.0, "Maison Valère": 3500.0,
                                               "Orsini Milano": 1900.0}


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a listing in a (region, category) must carry.

    Missing `certifications` or `attributes` is what `mandatory_attributes` should catch
    (`certification_missing`, `attribute_missing`); `category_rules` judges banned categories and
    categories restricted to licensed sellers (`REGULATED_PRODUCTS`), not marks.
    """

    certifications: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()


MANDATORY: Final[dict[tuple[str, str], Requirement]] = {
    **{("EU", c): Requirement(("CE",), ("eu_responsible_person",))
       for c in ("toys", "electronics", "radio_devices")},
    **{("UK", c): Requirement(("UKCA",), ("uk_responsible_person",))
       for c in ("toys", "electronics", "radio_devices")},
    ("US", "radio_devices"): Requirement((), ("fcc_id",)),
    ("US", "toys"): Requirement(("CPC",), ()),
}

# ---------------------------------------------------------------- policy hints

PROHIBITED_TERMS: Final[dict[str, tuple[str, ...]]] = {
    # The recalled inclined infant sleeper, in the languages it is listed in.
    "EU": ("inclined sleeper", "inclined infant sleeper", "schrägschläfer", "couchette inclinée",
           "hamaca inclinada", "culla inclinata", "schuine slaapwieg", "dmaa", "1,3-dimethylamylamine"),
    "UK": ("inclined sleeper", "inclined infant sleeper", "dmaa", "1,3-dimethylamylamine"),
    "US": ("inclined sleeper", "inclined infant sleeper", "dmaa", "1,3-dimethylamylamine"),
    "SEA": ("dmaa", "1,3-dimethylamylamine"),
}
RESTRICTED_TERMS: Final[tuple[str, ...]] = ("semaglutide", "weight loss injection", "glp-1 drops")
# Terms in `REGULATED_PRODUCTS` titles that a region's policy restricts as text (`prohibited_terms`):
# a category-rule violation whose title names one is `prohibited_terms`' finding too.
REGULATED_TITLE_TERMS: Final[dict[str, tuple[str, ...]]] = {
    "EU": ("nicotine pouches", "sachets de nicotine", "melatonin 5 mg", "disposable vape"),
    "UK": ("nicotine pouches", "disposable vape"),
    "US": ("nicotine pouches", "disposable vape"),
    "SEA": ("vape", "pod system", "nicotine pouches", "rokok elektronik", "บุหรี่ไฟฟ้า"),
}

HEALTH_CLAIMS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("cures diabetes", "lose 10 kg in a week", "no side effects", "melts fat overnight",
           "doctors hate this", "reverses aging"),
    "ms": ("menyembuhkan diabetes", "turun 10 kg seminggu", "tiada kesan sampingan"),
    "de": ("heilt diabetes", "10 kg in einer woche", "keine nebenwirkungen"),
}
DISCLOSURE_TAGS: Final[dict[str, str]] = {
    "en": "#ad", "de": "#werbung", "fr": "#publicité", "es": "#publi", "it": "#adv", "nl": "#advertentie",
    "ms": "#iklan", "th": "#โฆษณา",
}
SAFETY_COMPLAINTS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("caught fire", "burned", "exploded", "started smoking", "melted"),
    "de": ("hat Feuer gefangen", "verbrannt", "explodiert", "fing an zu qualmen", "geschmolzen"),
    "fr": ("a pris feu", "brûlé", "a explosé", "a commencé à fumer", "fondu"),
    "es": ("se incendió", "quemado", "explotó", "empezó a echar humo"),
    "it": ("ha preso fuoco", "bruciato", "è esploso"),
    "nl": ("vloog in brand", "verbrand", "ontplofte"),
    "ms": ("terbakar", "meletup", "berasap"),
    "th": ("ไฟไหม้", "ระเบิด", "มีควัน"),
}

# Recalls the scenarios publish (recall_match should key on these terms).
# The notice names the product in the languages of the member states it is published in.
RECALLED_SLEEPER_TERMS: Final[tuple[str, ...]] = ("inclined sleeper", "inclined infant sleeper",
                                                  "schrägschläfer", "couchette inclinée", "hamaca inclinada",
                                                  "culla inclinata", "schuine slaapwieg")
