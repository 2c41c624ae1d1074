"""Text the simulated users write: review and post templates, typos and obfuscation.

>>> import random
>>> rng = random.Random(1)
>>> len(obfuscate("inclined infant sleeper", rng)) >= len("inclined infant sleeper")
True
>>> typo("abc", random.Random(0)) in {"abc", "bac", "acb"}
True
"""

from __future__ import annotations

import random
from typing import Final

_LEET: Final = str.maketrans({"e": "3", "i": "1", "o": "0", "a": "4", "s": "5"})
_HOMOGLYPH: Final = str.maketrans({"a": "а", "e": "е", "o": "о", "c": "с", "p": "р"})


SPOOFING: Final = frozenset({3, 4, 5})
"""`obfuscate_how` methods that leave Unicode tell-tales (`mixed_script` should see them)."""


def obfuscate(text: str, rng: random.Random) -> str:
    """Disguise one long word the way sellers dodge filters (see `obfuscate_how`)."""
    return obfuscate_how(text, rng)[0]


def obfuscate_how(text: str, rng: random.Random) -> tuple[str, int | None]:
    """Disguise one long word: leetspeak (0), dots (1), spaces (2), Cyrillic homoglyphs (3),
    zero-width spaces (4), or the word stored reversed behind a right-to-left override (5),
    which displays as the word.  Returns the text and the method (None: nothing disguised)."""
    words = text.split(" ")
    long_ = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_:
        return text, None
    i = rng.choice(long_)
    w = words[i]
    how = rng.randrange(6)
    if how == 0:
        w = w.translate(_LEET)
    elif how == 1:
        cut = rng.randrange(1, len(w) - 1)
        w = f"{w[:cut]}.{w[cut:]}"
    elif how == 2:
        w = " ".join(w)
    elif how == 3:
        w = w.translate(_HOMOGLYPH)
        if w == words[i]:
            how = 4  # no letter with a homoglyph: split it invisibly instead
    if how == 4:
        cut = rng.randrange(1, len(w) - 1)
        w = f"{w[:cut]}\u200b{w[cut:]}"
    elif how == 5:
        w = f"\u202e{w[::-1]}\u202c"
    words[i] = w
    return " ".join(words), how


def typo(text: str, rng: random.Random) -> str:
    """Swap two adjacent characters, the commonest honest typo."""
    if len(text) < 2:
        return text
    i = rng.randrange(len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


REVIEW_POSITIVE: Final[dict[str, tuple[str, ...]]] = {
    "en": ("Great quality, arrived quickly.", "Exactly as described, would buy again.",
           "My kids love it!", "Good value for the price.", "This jacket is fire, love the fit",
           "Fire price for this quality", "Works perfectly, five stars."),
    "de": ("Super Qualität, schnelle Lieferung.", "Genau wie beschrieben, gerne wieder.",
           "Preis-Leistung top.", "Meine Kinder lieben es!"),
    "fr": ("Très bonne qualité, livraison rapide.", "Conforme à la description.",
           "Excellent rapport qualité-prix.", "Mes enfants adorent !"),
    "es": ("Muy buena calidad, llegó rápido.", "Tal como se describe.", "Buena relación calidad-precio."),
    "it": ("Ottima qualità, spedizione veloce.", "Come descritto, lo ricomprerei."),
    "nl": ("Goede kwaliteit, snel geleverd.", "Precies zoals beschreven."),
    "ms": ("Kualiti bagus, penghantaran cepat.", "Sama seperti gambar, berbaloi."),
    "th": ("คุณภาพดีมาก ส่งไว", "ตรงปก คุ้มราคา", "ชอบมากค่ะ"),
}
REVIEW_NEUTRAL: Final[dict[str, tuple[str, ...]]] = {
    "en": ("It's okay, a bit smaller than expected.", "Decent, delivery was slow."),
    "de": ("Ganz okay, etwas kleiner als gedacht.", "In Ordnung, Lieferung dauerte lange."),
    "fr": ("Correct, un peu petit.", "Bien mais livraison lente."),
    "es": ("Está bien, algo pequeño.",), "it": ("Discreto, un po' piccolo.",),
    "nl": ("Prima, iets kleiner dan verwacht.",), "ms": ("Okay je, agak kecil.",), "th": ("ก็โอเค เล็กกว่าที่คิด",),
}
REVIEW_NEGATIVE: Final[dict[str, tuple[str, ...]]] = {
    "en": ("Broke after a week.", "Not as pictured, returning it.", "Arrived damaged."),
    "de": ("Nach einer Woche kaputt.", "Nicht wie abgebildet."), "fr": ("Cassé après une semaine.",),
    "es": ("Se rompió en una semana.",), "it": ("Rotto dopo una settimana.",),
    "nl": ("Na een week kapot.",), "ms": ("Rosak selepas seminggu.",), "th": ("พังหลังใช้ไปอาทิตย์เดียว",),
}
CONTENT_HOOKS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("Unboxing my new", "Honest review of the", "Day 3 with the", "Is it worth it? Testing the"),
    "de": ("Unboxing:", "Ehrlicher Test:"), "fr": ("Déballage :", "Mon avis sur"),
    "es": ("Unboxing:", "Mi opinión sobre"), "it": ("Unboxing:", "Recensione onesta:"),
    "nl": ("Unboxing:",), "ms": ("Unboxing", "Review jujur"), "th": ("แกะกล่อง", "รีวิว"),
}
FARM_REVIEWS: Final[tuple[str, ...]] = (
    "Amazing product!!! Best {p} ever, highly recommend, fast shipping 5 stars",
    "Amazing product!! Best {p} ever highly recommend fast shipping, 5 stars!",
    "amazing product, best {p} ever!!! highly recommend. fast shipping 5 stars",
    "Best {p} ever!!! Amazing product highly recommend, fast shipping. 5 stars",
)
BOMB_REVIEWS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("SCAM seller, do not buy!!!", "Worst seller ever. Avoid.", "Fake, stay away from this shop",
           "Terrible, total scam"),
    "de": ("BETRUG! Finger weg!!!", "Schlechtester Verkäufer überhaupt.", "Abzocke, nicht kaufen",
           "Fake, Finger weg von diesem Shop"),
}
SAFETY_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "en": ("The power bank {c} while charging overnight!", "Mine {c} after two days, dangerous."),
    "de": ("Die Powerbank {c} beim Laden über Nacht!", "Meine ist nach zwei Tagen {c}, gefährlich."),
    "fr": ("La batterie {c} pendant la charge !", "La mienne a {c} après deux jours, dangereux."),
}
SLEEPER_TITLES: Final[dict[str, tuple[str, ...]]] = {
    "en": ("Inclined infant sleeper rocker portable", "Baby inclined sleeper with vibration"),
    "de": ("Babywippe Schrägschläfer mit Vibration", "Schrägschläfer für Neugeborene, inclined sleeper"),
    "fr": ("Couchette inclinée pour bébé portable", "Transat couchette inclinée nouveau-né"),
    "es": ("Hamaca inclinada para bebé portátil", "Cuna hamaca inclinada inclined sleeper"),
    "it": ("Culla inclinata per neonato portatile",), "nl": ("Schuine slaapwieg baby draagbaar",),
}
COUNTERFEIT_TITLES: Final[tuple[str, ...]] = (
    "{b} Classic Flap Bag - 100% authentic", "{b} flap bag original quality, new with tags",
    "Authentic {b} medium flap, dust bag included", "{b} classic bag best price 1:1",
)
HEALTH_POSTS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("I lost 12 kg with {p}!! it literally cures diabetes, no side effects 🙌 link below",
           "{p} melts fat overnight, doctors hate this. grab it before it's gone",
           "lose 10 kg in a week with {p}, no side effects, link in bio"),
    "ms": ("{p} menyembuhkan diabetes, turun 10 kg seminggu! tiada kesan sampingan",),
}
DMAA_TITLES: Final[tuple[str, ...]] = (
    "Pre-workout with DMAA 1,3-dimethylamylamine extreme pump", "Old school DMAA pre workout 30 servings",
    "Geranium extract (DMAA) pre-workout insane energy",
)
DMAA_POSTS: Final[tuple[str, ...]] = (
    "This DMAA pre-workout is insane, best pump of my life #gymtok",
    "they banned DMAA but you can still get it here, link below",
)
