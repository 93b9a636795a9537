"""The controlled vocabularies of the directory.

Every value here is part of the public contract (API parameters, CSV columns, HSDS taxonomy terms):
add values, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ServiceKind(StrEnum):
    crisis_line = "crisis_line"
    crisis_cafe = "crisis_cafe"
    crisis_house = "crisis_house"
    walk_in_crisis_assessment = "walk_in_crisis_assessment"
    dual_diagnosis = "dual_diagnosis"
    substance_use = "substance_use"
    self_harm_aftercare = "self_harm_aftercare"
    psychological_therapy = "psychological_therapy"
    peer_support = "peer_support"
    helpline = "helpline"
    emergency = "emergency"


@dataclass(frozen=True, slots=True)
class KindInfo:
    label: str
    description: str
    # NHS Mental Health Services Data Set (MHSDS) team type, where one describes this kind of service.
    mhsds_team_type: str | None


KINDS: dict[ServiceKind, KindInfo] = {
    ServiceKind.crisis_line: KindInfo(
        "24/7 crisis line",
        "An NHS or commissioned mental-health crisis telephone line that answers around the clock.",
        "A19",
    ),
    ServiceKind.crisis_cafe: KindInfo(
        "Crisis café, safe haven or sanctuary",
        "A non-clinical place to go in the evening or at night instead of A&E, usually without referral.",
        "A21",
    ),
    ServiceKind.crisis_house: KindInfo(
        "Crisis house",
        "Short residential stays as an alternative to hospital admission, usually by referral.",
        "A25",
    ),
    ServiceKind.walk_in_crisis_assessment: KindInfo(
        "Walk-in crisis assessment",
        "A mental-health assessment unit people can attend without an appointment.",
        "A22",
    ),
    ServiceKind.dual_diagnosis: KindInfo(
        "Dual-diagnosis clinic",
        "Care for people with both mental-health needs and substance or alcohol use.",
        None,
    ),
    ServiceKind.substance_use: KindInfo(
        "Substance-use service",
        "Drug and alcohol treatment and recovery support.",
        "D01",
    ),
    ServiceKind.self_harm_aftercare: KindInfo(
        "Self-harm aftercare",
        "Follow-up after self-harm or an emergency-department attendance for a mental-health crisis.",
        None,
    ),
    ServiceKind.psychological_therapy: KindInfo(
        "Psychological therapy",
        "Talking therapies, including NHS Talking Therapies for anxiety and depression.",
        "A13",
    ),
    ServiceKind.peer_support: KindInfo(
        "Peer support",
        "Support from people with lived experience of mental-health crisis.",
        None,
    ),
    ServiceKind.helpline: KindInfo(
        "Emotional-support helpline",
        "A national listening, phone or text service run by a charity.",
        None,
    ),
    ServiceKind.emergency: KindInfo(
        "Emergency services",
        "Police, ambulance and fire: for immediate danger to life.",
        None,
    ),
}


# Kinds that are places people go to or stay in: a door wherever one is recorded, whatever ways in the record lists
# (a referral-only crisis house lists the phone you are referred by, then you go and stay there).
PLACE_KINDS = frozenset({ServiceKind.crisis_cafe, ServiceKind.crisis_house, ServiceKind.walk_in_crisis_assessment})
# Kinds people phone or text rather than visit: an address is the line's office, no door, unless the record lists in
# person as a way in (other publishers' HSDS never fills ways in: a crisis line's base was searched as a place).
LINE_KINDS = frozenset({ServiceKind.crisis_line, ServiceKind.helpline, ServiceKind.emergency})


class Need(StrEnum):
    suicidal_thoughts = "suicidal_thoughts"
    self_harm = "self_harm"
    substance_use = "substance_use"
    alcohol = "alcohol"
    dual_diagnosis = "dual_diagnosis"
    complex_emotional_needs = "complex_emotional_needs"
    psychosis = "psychosis"
    anxiety_depression = "anxiety_depression"
    eating_disorder = "eating_disorder"
    carers = "carers"
    young_people = "young_people"
    older_people = "older_people"
    veterans = "veterans"
    lgbtq = "lgbtq"
    perinatal = "perinatal"
    domestic_abuse = "domestic_abuse"
    bereavement = "bereavement"
    homelessness = "homelessness"
    autism_learning_disability = "autism_learning_disability"


# Needs that say the person uses drugs or alcohol: asking for help with them is saying so. A search naming one asks
# about substance use as `uses_substances=true` does, unless told otherwise (schemas.SearchRequest).
SUBSTANCE_NEEDS: frozenset[Need] = frozenset({Need.substance_use, Need.alcohol, Need.dual_diagnosis})

NEED_LABELS: dict[Need, str] = {
    Need.suicidal_thoughts: "Suicidal thoughts",
    Need.self_harm: "Self-harm",
    Need.substance_use: "Drug use",
    Need.alcohol: "Alcohol",
    Need.dual_diagnosis: "Mental health and substance use together",
    Need.complex_emotional_needs: "Complex emotional needs",
    Need.psychosis: "Psychosis",
    Need.anxiety_depression: "Anxiety and depression",
    Need.eating_disorder: "Eating disorders",
    Need.carers: "Carers",
    Need.young_people: "Young people",
    Need.older_people: "Older people",
    Need.veterans: "Veterans",
    Need.lgbtq: "LGBTQ+ people",
    Need.perinatal: "Pregnancy and after birth",
    Need.domestic_abuse: "Domestic abuse",
    Need.bereavement: "Bereavement, including by suicide",
    Need.homelessness: "Homelessness",
    Need.autism_learning_disability: "Autism or learning disability",
}


class Gender(StrEnum):
    # Who a service says it serves. "women" includes trans women unless a service's free text says otherwise.
    women = "women"
    men = "men"
    non_binary = "non_binary"


class ReferralRoute(StrEnum):
    walk_in = "walk_in"
    self_referral = "self_referral"
    gp = "gp"
    nhs_111 = "nhs_111"
    emergency_department = "emergency_department"
    crisis_team = "crisis_team"
    police = "police"
    professional = "professional"


# Routes a person can use on their own, with nobody referring them.
SELF_ROUTES: frozenset[ReferralRoute] = frozenset({ReferralRoute.walk_in, ReferralRoute.self_referral})

REFERRAL_LABELS: dict[ReferralRoute, str] = {
    ReferralRoute.walk_in: "walk in, no appointment",
    ReferralRoute.self_referral: "self-referral",
    ReferralRoute.gp: "GP referral",
    ReferralRoute.nhs_111: "referral from NHS 111",
    ReferralRoute.emergency_department: "referral from an emergency department",
    ReferralRoute.crisis_team: "referral from a crisis team",
    ReferralRoute.police: "referral from the police",
    ReferralRoute.professional: "referral from any health or care professional",
}


class ContactMode(StrEnum):
    in_person = "in_person"
    phone = "phone"
    text = "text"
    online = "online"


class AccessFeature(StrEnum):
    step_free = "step_free"
    wheelchair = "wheelchair"
    accessible_toilet = "accessible_toilet"
    hearing_loop = "hearing_loop"
    bsl = "bsl"
    interpreters = "interpreters"
    quiet_space = "quiet_space"
    women_only_space = "women_only_space"


ACCESS_LABELS: dict[AccessFeature, str] = {
    AccessFeature.step_free: "step-free access",
    AccessFeature.wheelchair: "wheelchair accessible",
    AccessFeature.accessible_toilet: "accessible toilet",
    AccessFeature.hearing_loop: "hearing loop",
    AccessFeature.bsl: "British Sign Language (BSL)",
    AccessFeature.interpreters: "interpreters",
    AccessFeature.quiet_space: "quiet space",
    AccessFeature.women_only_space: "women-only space",
}


class ServiceStatus(StrEnum):
    active = "active"
    inactive = "inactive"
    temporarily_closed = "temporarily_closed"
    defunct = "defunct"


class CatchmentType(StrEnum):
    england = "england"
    districts = "districts"
    polygon = "polygon"


class Cost(StrEnum):
    free = "free"
    paid = "paid"
    mixed = "mixed"


class PhoneType(StrEnum):
    voice = "voice"
    text = "text"
    textphone = "textphone"
    whatsapp = "whatsapp"


# The demonstration directory carries this source name; nothing else may use it.
DEMO_SOURCE = "demo"
