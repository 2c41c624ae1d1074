"""The default registry: every detector that ships, by its stable id.

Explicit on purpose (no import-time discovery): adding a detector means adding
it here, and the conformance suite (`tests/unit/test_conformance.py`) then
checks it with every other one.

>>> "prohibited_terms" in default_registry().names()
True
"""

from __future__ import annotations

from detectors.base import Registry
from detectors.category_rules import CategoryRulesDetector
from detectors.content_prohibited import ContentProhibitedDetector
from detectors.health_claims import HealthClaimsDetector
from detectors.mandatory_attributes import MandatoryAttributesDetector
from detectors.new_seller_burst import NewSellerBurstDetector
from detectors.price_outlier import PriceOutlierDetector
from detectors.prohibited_terms import ProhibitedTermsDetector
from detectors.rating_skew import RatingSkewDetector
from detectors.recall_match import RecallMatchDetector
from detectors.review_burst import ReviewBurstDetector
from detectors.review_near_duplicate import ReviewNearDuplicateDetector
from detectors.safety_complaints import SafetyComplaintsDetector
from detectors.undisclosed_promotion import UndisclosedPromotionDetector

ALL_DETECTORS = (
    # listings
    ProhibitedTermsDetector,
    CategoryRulesDetector,
    MandatoryAttributesDetector,
    PriceOutlierDetector,
    NewSellerBurstDetector,
    RecallMatchDetector,
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
