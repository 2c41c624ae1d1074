"""The default registry: every detector that ships, by its stable id.

Explicit on purpose (no import-time discovery): adding a detector means adding
it here, and the conformance suite (`tests/unit/test_conformance.py`) then
checks it with every other one.

>>> "prohibited_terms" in default_registry().names()
True
"""

from __future__ import annotations

from riskstream.detectors.base import Registry
from riskstream.detectors.category_rules import CategoryRulesDetector
from riskstream.detectors.content_prohibited import ContentProhibitedDetector
from riskstream.detectors.health_claims import HealthClaimsDetector
from riskstream.detectors.image_reuse import ImageReuseDetector
from riskstream.detectors.mandatory_attributes import MandatoryAttributesDetector
from riskstream.detectors.mixed_script import MixedScriptDetector
from riskstream.detectors.new_seller_burst import NewSellerBurstDetector
from riskstream.detectors.new_seller_wave import NewSellerWaveDetector
from riskstream.detectors.price_outlier import PriceOutlierDetector
from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector
from riskstream.detectors.rating_skew import RatingSkewDetector
from riskstream.detectors.recall_match import RecallMatchDetector
from riskstream.detectors.review_burst import ReviewBurstDetector
from riskstream.detectors.review_near_duplicate import ReviewNearDuplicateDetector
from riskstream.detectors.safety_complaints import SafetyComplaintsDetector
from riskstream.detectors.undisclosed_promotion import UndisclosedPromotionDetector

ALL_DETECTORS = (
    # listings
    ProhibitedTermsDetector,
    CategoryRulesDetector,
    MandatoryAttributesDetector,
    PriceOutlierDetector,
    NewSellerBurstDetector,
    NewSellerWaveDetector,
    RecallMatchDetector,
    MixedScriptDetector,
    ImageReuseDetector,
    # reviews
    ReviewBurstDetector,
    ReviewNearDuplicateDetector,
    RatingSkewDetector,
    SafetyComplaintsDetector,
    # creator content
    ContentProhibitedDetector,
    HealthClaimsDetector,
    UndisclosedPromotionDetector,
)


def default_registry() -> Registry:
    return Registry.with_detectors(*ALL_DETECTORS)
