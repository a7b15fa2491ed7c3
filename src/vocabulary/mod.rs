//! The product's closed vocabularies (modalities, site types, requirements, logistics) and
//! `GET /v1/vocabulary`, which hands them to clients so they never hard-code a code.
//!
//! Each set is a Rust enum whose codes are stored as checked `text` in PostgreSQL (the checks live
//! in the migrations and list the same codes; a test compares them).

#[macro_use]
mod code_set;

pub use code_set::CodeSet;

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde::Serialize;
use sha2::Digest;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

code_set! {
    /// An ARRT discipline a site can train for.
    Modality {
        Ct = "ct", "Computed Tomography";
        Mri = "mri", "Magnetic Resonance Imaging";
        Mammography = "mammography", "Mammography";
        BoneDensitometry = "bone_densitometry", "Bone Densitometry";
        CardiacInterventional = "cardiac_interventional", "Cardiac Interventional Radiography";
        VascularInterventional = "vascular_interventional", "Vascular Interventional Radiography";
        BreastSonography = "breast_sonography", "Breast Sonography";
        VascularSonography = "vascular_sonography", "Vascular Sonography";
        RadiologistAssistant = "radiologist_assistant", "Registered Radiologist Assistant";
        Radiography = "radiography", "Radiography";
        NuclearMedicine = "nuclear_medicine", "Nuclear Medicine Technology";
        RadiationTherapy = "radiation_therapy", "Radiation Therapy";
        Sonography = "sonography", "Sonography";
    }
}

impl Modality {
    /// The ARRT abbreviation (`CT`, `MR`, `M`, ...), which searches accept in any case.
    pub(crate) fn arrt(self) -> &'static str {
        match self {
            Self::Ct => "CT",
            Self::Mri => "MR",
            Self::Mammography => "M",
            Self::BoneDensitometry => "BD",
            Self::CardiacInterventional => "CI",
            Self::VascularInterventional => "VI",
            Self::BreastSonography => "BS",
            Self::VascularSonography => "VS",
            Self::RadiologistAssistant => "R.R.A.",
            Self::Radiography => "R",
            Self::NuclearMedicine => "N",
            Self::RadiationTherapy => "T",
            Self::Sonography => "S",
        }
    }

    /// The ARRT pathway.
    pub(crate) fn pathway(self) -> Pathway {
        match self {
            Self::Mri | Self::VascularSonography => Pathway::PrimaryAndPostPrimary,
            Self::Radiography | Self::NuclearMedicine | Self::RadiationTherapy | Self::Sonography => Pathway::Primary,
            _ => Pathway::PostPrimary,
        }
    }

    /// Whether a technologist can earn this credential through documented clinical experience at
    /// a site (ARRT's post-primary pathway): CT, MR, M, BD, CI, VI, VS and BS. The primary
    /// disciplines (and MR and VS as primary) are earned through an accredited educational program,
    /// and R.R.A. through a radiologist assistant program: a site can host those students, but an
    /// independent candidate cannot earn them by clinical experience alone.
    pub(crate) fn clinical_experience_pathway(self) -> bool {
        matches!(
            self,
            Self::Ct
                | Self::Mri
                | Self::Mammography
                | Self::BoneDensitometry
                | Self::CardiacInterventional
                | Self::VascularInterventional
                | Self::VascularSonography
                | Self::BreastSonography
        )
    }

    /// The primary credentials that support pursuing this discipline through clinical experience
    /// (ARRT's supporting category requirements at the time of writing; `../shared/domain`), empty
    /// where there is no such pathway.
    pub(crate) fn supporting_credentials(self) -> Vec<SupportingCredential> {
        const R: SupportingCredential = SupportingCredential::arrt(PrimaryCredential::R);
        const N: SupportingCredential = SupportingCredential {
            credential: PrimaryCredential::N,
            issuers: &[Issuer::Arrt, Issuer::Nmtcb],
            together_with: None,
        };
        const T: SupportingCredential = SupportingCredential::arrt(PrimaryCredential::T);
        const S: SupportingCredential = SupportingCredential {
            credential: PrimaryCredential::S,
            issuers: &[Issuer::Arrt, Issuer::Ardms],
            together_with: None,
        };
        match self {
            Self::Ct | Self::BoneDensitometry => vec![R, N, T],
            Self::Mri | Self::VascularSonography => vec![R, N, T, S],
            Self::Mammography | Self::CardiacInterventional | Self::VascularInterventional => vec![R],
            Self::BreastSonography => vec![
                S,
                SupportingCredential {
                    together_with: Some("M"),
                    ..R
                },
            ],
            _ => Vec::new(),
        }
    }

    /// What else a candidate for this discipline should know about the site, if anything.
    pub(crate) fn note(self) -> Option<&'static str> {
        match self {
            Self::Mammography => Some(
                "Candidates must meet MQSA requirements before submitting procedures (ARRT, effective \
                 2025-09-01): ask whether the site provides MQSA-qualified supervision.",
            ),
            Self::RadiologistAssistant => Some("Earned through a radiologist assistant educational program."),
            Self::Radiography | Self::NuclearMedicine | Self::RadiationTherapy | Self::Sonography => {
                Some("A primary discipline, earned through an accredited educational program.")
            }
            _ => None,
        }
    }

    /// A code (`ct`) or an ARRT abbreviation (`CT`, `mr`, `r.r.a.`), in any case.
    pub(crate) fn parse_loose(value: &str) -> Option<Self> {
        let value = value.trim();
        Self::ALL.iter().copied().find(|m| {
            m.code().eq_ignore_ascii_case(value)
                || m.arrt().eq_ignore_ascii_case(value)
                || m.arrt().replace('.', "").eq_ignore_ascii_case(value)
        })
    }
}

code_set! {
    /// The kind of facility.
    SiteType {
        Hospital = "hospital", "Hospital";
        CriticalAccessHospital = "critical_access_hospital", "Critical access / rural hospital";
        ImagingCenter = "imaging_center", "Outpatient imaging center";
        BreastCenter = "breast_center", "Breast imaging center";
        Clinic = "clinic", "Clinic (large or multi-specialty, or small)";
        MobileImaging = "mobile_imaging", "Mobile imaging unit";
        Other = "other", "Other";
    }
}

impl SiteType {
    /// The category of the ASRT member survey this type belongs to.
    pub(crate) fn survey_category(self) -> SurveyCategory {
        match self {
            Self::Hospital | Self::CriticalAccessHospital => SurveyCategory::Hospital,
            Self::ImagingCenter | Self::BreastCenter => SurveyCategory::ImagingCenter,
            Self::Clinic => SurveyCategory::LargeClinic,
            Self::MobileImaging | Self::Other => SurveyCategory::Other,
        }
    }
}

/// A modality's ARRT abbreviation (`CT`, `MR`, `M`, ...), as `GET /v1/vocabulary` lists it;
/// searches accept it in place of the modality code.
pub(crate) struct ArrtAbbreviation;

impl utoipa::PartialSchema for ArrtAbbreviation {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some(
                "A modality's ARRT abbreviation; searches accept it in place of the modality code.",
            ))
            .enum_values(Some(Modality::ALL.iter().map(|m| m.arrt())))
            .into()
    }
}

impl ToSchema for ArrtAbbreviation {}

/// How an ARRT credential is earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Pathway {
    /// Through an accredited educational program.
    Primary,
    /// Through documented clinical experience, after a primary credential.
    PostPrimary,
    /// Either way (MR, vascular sonography).
    PrimaryAndPostPrimary,
}

/// The site categories of the ASRT member survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum SurveyCategory {
    /// Hospitals, including critical access hospitals.
    #[serde(rename = "hospital")]
    Hospital,
    /// Outpatient imaging and breast centers.
    #[serde(rename = "imaging center")]
    ImagingCenter,
    /// Large and multi-specialty clinics.
    #[serde(rename = "large clinic")]
    LargeClinic,
    /// Everything else (mobile units, ...).
    #[serde(rename = "other")]
    Other,
}

/// A primary ARRT discipline, by its abbreviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum PrimaryCredential {
    /// Radiography.
    R,
    /// Nuclear medicine technology.
    N,
    /// Radiation therapy.
    T,
    /// Sonography.
    S,
}

/// A credentialing organisation whose primary credential counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum Issuer {
    /// The American Registry of Radiologic Technologists.
    #[serde(rename = "ARRT")]
    Arrt,
    /// The Nuclear Medicine Technology Certification Board.
    #[serde(rename = "NMTCB")]
    Nmtcb,
    /// The American Registry for Diagnostic Medical Sonography.
    #[serde(rename = "ARDMS")]
    Ardms,
}

code_set! {
    /// Whom a site accepts for a modality's clinical rotation.
    Accepts {
        Employees = "employees", "Its own employees";
        ProgramStudents = "program_students", "Students of an affiliated educational program";
        Independent = "independent", "Independent candidates (not employees, not in a program)";
    }
}

code_set! {
    /// Whether and how a site charges for the clinical experience.
    Payment {
        Free = "free", "Free";
        Fee = "fee", "The site charges a fee";
        ProgramTuition = "program_tuition", "Only through an educational program's tuition";
        Unknown = "unknown", "Unknown";
    }
}

code_set! {
    /// What the candidate is paid.
    Compensation {
        Unpaid = "unpaid", "Unpaid";
        Stipend = "stipend", "Stipend";
        PaidEmployee = "paid_employee", "Paid as an employee";
        Unknown = "unknown", "Unknown";
    }
}

code_set! {
    /// How a site handles HIPAA training.
    HipaaTraining {
        ProvidedBySite = "provided_by_site", "The site provides it";
        BringOwnCertificate = "bring_own_certificate", "Bring your own certificate";
        Either = "either", "Either";
    }
}

code_set! {
    /// Where a member's HIPAA training for a rotation came from (the ASRT survey's answers).
    HipaaSource {
        Employer = "employer", "Through their employer";
        ClinicalFacility = "clinical_facility", "From the clinical facility";
        EducationalProgram = "educational_program", "Through an educational program";
        Online = "online", "Online";
        Unspecified = "unspecified", "An unspecified setting";
    }
}

code_set! {
    /// How a member got into a rotation (the ASRT survey's answers); a report may name several.
    Route {
        Employer = "employer", "Through their employer";
        EducationalProgram = "educational_program", "Through an educational program's affiliation";
        NonEmployerProvider = "non_employer_provider", "With a health care provider that was not their employer";
        Other = "other", "Some other setting";
    }
}

code_set! {
    /// Whether liability insurance is required.
    LiabilityInsurance {
        NotRequired = "not_required", "Not required";
        Required = "required", "Required";
    }
}

code_set! {
    /// Liability coverage a site accepts when insurance is required.
    InsuranceCoverage {
        OwnPolicy = "own_policy", "The candidate's own policy";
        ProgramPolicy = "program_policy", "An educational program's policy";
        EmployerPolicy = "employer_policy", "The candidate's employer's policy";
    }
}

code_set! {
    /// Immunizations a site requires.
    Immunization {
        Tb = "tb", "Tuberculosis (TB) test";
        Mmr = "mmr", "Measles, mumps, rubella (MMR)";
        Tdap = "tdap", "Tetanus, diphtheria, pertussis (Tdap)";
        Varicella = "varicella", "Varicella";
        HepB = "hep_b", "Hepatitis B";
        Influenza = "influenza", "Influenza";
        Covid19 = "covid19", "COVID-19";
    }
}

code_set! {
    /// Housing help a site offers.
    Housing {
        None = "none", "None";
        Free = "free", "Free housing";
        Paid = "paid", "Paid housing";
        HelpFinding = "help_finding", "Help finding housing";
    }
}

code_set! {
    /// When rotations can be scheduled.
    Schedule {
        Weekday = "weekday", "Weekdays";
        Evening = "evening", "Evenings";
        Night = "night", "Nights";
        Weekend = "weekend", "Weekends";
    }
}

code_set! {
    /// How many exams of a modality a site performs.
    VolumeBand {
        Low = "low", "Low volume";
        Medium = "medium", "Medium volume";
        High = "high", "High volume";
    }
}

code_set! {
    /// A listing's standing.
    SiteStatus {
        Unverified = "unverified", "Unverified (not yet checked by an administrator)";
        Verified = "verified", "Verified (checked by an administrator)";
        Archived = "archived", "Archived (no longer listed)";
    }
}

code_set! {
    /// Where a claim stands.
    ClaimStatus {
        Pending = "pending", "Waiting for an administrator";
        Approved = "approved", "Approved: the claimant manages the site";
        Rejected = "rejected", "Rejected";
    }
}

code_set! {
    /// The kinds of recorded change.
    SiteChangeKind {
        Create = "create", "The listing was created";
        Update = "update", "Fields or offers changed";
        Archive = "archive", "It was archived";
        Restore = "restore", "It was restored from the archive";
        Verify = "verify", "An administrator verified it";
        ClaimApproved = "claim_approved", "A claim on it was approved";
        ClaimRejected = "claim_rejected", "A claim on it was rejected";
        ReportCreate = "report_create", "A member reported a rotation there";
        ReportUpdate = "report_update", "A member changed their report";
        ReportDelete = "report_delete", "A report was deleted";
        ReportHide = "report_hide", "An administrator hid a report";
        ReportUnhide = "report_unhide", "An administrator showed a hidden report again";
    }
}

code_set! {
    /// Who created a listing.
    SiteSource {
        Member = "member", "Added by a member";
        Coordinator = "coordinator", "Registered by its coordinator";
        Import = "import", "Imported";
        Demo = "demo", "Demo data (synthetic, not a real facility)";
    }
}

/// The vocabulary routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_vocabulary))
}

/// One code of a closed set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Term<T: CodeSet + Serialize + ToSchema> {
    /// The code used in requests and responses.
    pub(crate) code: T,
    /// What to show a person.
    #[schema(example = "Free")]
    pub(crate) display: &'static str,
}

/// A modality with its ARRT details.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ModalityTerm {
    /// The code used in requests and responses.
    pub(crate) code: Modality,
    /// What to show a person.
    #[schema(example = "Computed Tomography")]
    pub(crate) display: &'static str,
    /// The ARRT abbreviation; searches accept it too, in any case.
    #[schema(value_type = ArrtAbbreviation)]
    pub(crate) arrt: &'static str,
    /// How the credential is earned: `primary` (an educational program), `post_primary` (clinical
    /// experience after a primary credential), or `primary_and_post_primary` (either).
    pub(crate) pathway: Pathway,
    /// Whether a technologist can earn it through documented clinical experience at a site (the
    /// post-primary pathway): what an independent candidate looks for. `false` for the primary
    /// disciplines and R.R.A., which take an educational program (a site may still host its
    /// students).
    #[schema(example = true)]
    pub(crate) clinical_experience: bool,
    /// The primary credentials with which a technologist may pursue it through clinical
    /// experience (ARRT's supporting category requirements; check ARRT's current page before
    /// showing them as rules); empty when `clinical_experience` is `false`. An R.T.(N) filters
    /// offers by the modalities whose list has `N`.
    pub(crate) supporting_credentials: Vec<SupportingCredential>,
    /// What else a candidate should know, e.g. mammography's MQSA requirement; `null` when there is
    /// nothing more.
    #[schema(required = true, example = json!(null))]
    pub(crate) note: Option<&'static str>,
}

/// A primary credential that supports pursuing a post-primary discipline.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct SupportingCredential {
    /// The primary discipline's ARRT abbreviation.
    pub(crate) credential: PrimaryCredential,
    /// Whose credential counts: `ARRT`, and for `N` also `NMTCB`, for `S` also `ARDMS`.
    #[schema(example = json!(["ARRT"]))]
    pub(crate) issuers: &'static [Issuer],
    /// Another credential needed as well, by its ARRT abbreviation, when there is one: breast
    /// sonography through radiography needs mammography (`M`) too. `null` when there is none.
    #[schema(required = true, value_type = Option<ArrtAbbreviation>, example = json!(null))]
    pub(crate) together_with: Option<&'static str>,
}

impl SupportingCredential {
    const fn arrt(credential: PrimaryCredential) -> Self {
        Self {
            credential,
            issuers: &[Issuer::Arrt],
            together_with: None,
        }
    }
}

/// A site type with the survey category it counts under.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SiteTypeTerm {
    /// The code used in requests and responses.
    pub(crate) code: SiteType,
    /// What to show a person.
    #[schema(example = "Outpatient imaging center")]
    pub(crate) display: &'static str,
    /// The ASRT survey's category it counts under.
    pub(crate) survey_category: SurveyCategory,
}

/// Every closed set of the API, with codes and display names.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Vocabulary {
    /// ARRT disciplines a site can train for.
    pub(crate) modalities: Vec<ModalityTerm>,
    /// Kinds of facility.
    pub(crate) site_types: Vec<SiteTypeTerm>,
    /// Whom a site accepts for a modality (`accepts` on an offer).
    pub(crate) accepts: Vec<Term<Accepts>>,
    /// Whether and how a site charges (`payment`).
    pub(crate) payment: Vec<Term<Payment>>,
    /// What the candidate is paid (`compensation`).
    pub(crate) compensation: Vec<Term<Compensation>>,
    /// HIPAA training (`hipaa_training`).
    pub(crate) hipaa_training: Vec<Term<HipaaTraining>>,
    /// Liability insurance (`liability_insurance`).
    pub(crate) liability_insurance: Vec<Term<LiabilityInsurance>>,
    /// Accepted liability coverage (`insurance_accepted`).
    pub(crate) insurance_coverage: Vec<Term<InsuranceCoverage>>,
    /// Required immunizations (`immunizations`).
    pub(crate) immunizations: Vec<Term<Immunization>>,
    /// Housing help (`housing`).
    pub(crate) housing: Vec<Term<Housing>>,
    /// Schedule options (`schedule`).
    pub(crate) schedule: Vec<Term<Schedule>>,
    /// Exam volume bands (`volume_band` on an offer).
    pub(crate) volume_bands: Vec<Term<VolumeBand>>,
    /// Listing status (`status`).
    pub(crate) site_status: Vec<Term<SiteStatus>>,
    /// Listing source (`source`).
    pub(crate) site_source: Vec<Term<SiteSource>>,
    /// Where a member's HIPAA training for a rotation came from (`hipaa_source` of an experience
    /// report; the ASRT survey's answers).
    pub(crate) hipaa_source: Vec<Term<HipaaSource>>,
    /// How a member got into a rotation (`route` of an experience report, a set; the ASRT
    /// survey's answers).
    pub(crate) route: Vec<Term<Route>>,
}

fn terms<T: CodeSet + Serialize + ToSchema>() -> Vec<Term<T>> {
    T::ALL
        .iter()
        .map(|v| Term {
            code: *v,
            display: v.display(),
        })
        .collect()
}

/// The whole vocabulary.
pub(crate) fn vocabulary() -> Vocabulary {
    Vocabulary {
        modalities: Modality::ALL
            .iter()
            .map(|m| ModalityTerm {
                code: *m,
                display: m.display(),
                arrt: m.arrt(),
                pathway: m.pathway(),
                clinical_experience: m.clinical_experience_pathway(),
                supporting_credentials: m.supporting_credentials(),
                note: m.note(),
            })
            .collect(),
        site_types: SiteType::ALL
            .iter()
            .map(|t| SiteTypeTerm {
                code: *t,
                display: t.display(),
                survey_category: t.survey_category(),
            })
            .collect(),
        accepts: terms::<Accepts>(),
        payment: terms::<Payment>(),
        compensation: terms::<Compensation>(),
        hipaa_training: terms::<HipaaTraining>(),
        liability_insurance: terms::<LiabilityInsurance>(),
        insurance_coverage: terms::<InsuranceCoverage>(),
        immunizations: terms::<Immunization>(),
        housing: terms::<Housing>(),
        schedule: terms::<Schedule>(),
        volume_bands: terms::<VolumeBand>(),
        site_status: terms::<SiteStatus>(),
        site_source: terms::<SiteSource>(),
        hipaa_source: terms::<HipaaSource>(),
        route: terms::<Route>(),
    }
}

/// The vocabulary's JSON and its entity tag (a digest of it), built once: it changes only with
/// the binary.
fn encoded() -> &'static (Vec<u8>, String) {
    static ENCODED: std::sync::LazyLock<(Vec<u8>, String)> = std::sync::LazyLock::new(|| {
        let body = serde_json::to_vec(&vocabulary()).expect("the vocabulary serializes");
        let digest = sha2::Sha256::digest(&body);
        let etag = format!("\"{}\"", crate::auth::token::hex(&digest[..12]));
        (body, etag)
    });
    &ENCODED
}

/// Every closed set with codes and display names, so clients never hard-code them. Public and
/// cacheable; answers `304 Not Modified` when `If-None-Match` names its `ETag`.
#[utoipa::path(
    get,
    path = "/v1/vocabulary",
    tag = "vocabulary",
    params(("If-None-Match" = Option<String>, Header, description = "An `ETag` of the vocabulary the client has; 304 if still current.")),
    responses(
        (status = OK, description = "The vocabulary.", body = Vocabulary,
         headers(("ETag" = String, description = "Its revision (it changes only with a new release)."))),
        (status = NOT_MODIFIED, description = "The client's copy is current."),
    )
)]
pub(crate) async fn get_vocabulary(headers: axum::http::HeaderMap) -> axum::response::Response {
    let (body, etag) = encoded();
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    if let Some(mut response) = crate::http::conditional::not_modified(&headers, etag) {
        response.headers_mut().insert(cache.0, cache.1);
        return response;
    }
    (
        [
            cache,
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                header::ETAG,
                HeaderValue::from_str(etag).expect("a hex tag is a header value"),
            ),
        ],
        body.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_agree<T: CodeSet + Serialize>() {
        for value in T::ALL {
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                value.code(),
                "serde and code() agree"
            );
            assert_eq!(T::from_code(value.code()).map(|v| v.code()), Some(value.code()));
        }
    }

    #[test]
    fn serde_codes_are_the_vocabulary_codes() {
        codes_agree::<Modality>();
        codes_agree::<SiteType>();
        codes_agree::<Accepts>();
        codes_agree::<Payment>();
        codes_agree::<Compensation>();
        codes_agree::<HipaaTraining>();
        codes_agree::<LiabilityInsurance>();
        codes_agree::<InsuranceCoverage>();
        codes_agree::<Immunization>();
        codes_agree::<Housing>();
        codes_agree::<Schedule>();
        codes_agree::<VolumeBand>();
        codes_agree::<SiteStatus>();
        codes_agree::<SiteSource>();
    }

    #[test]
    fn modalities_parse_from_codes_and_arrt_abbreviations_in_any_case() {
        assert_eq!(Modality::parse_loose("CT"), Some(Modality::Ct));
        assert_eq!(Modality::parse_loose("mr"), Some(Modality::Mri));
        assert_eq!(Modality::parse_loose("M"), Some(Modality::Mammography));
        assert_eq!(Modality::parse_loose("bd"), Some(Modality::BoneDensitometry));
        assert_eq!(Modality::parse_loose("VI"), Some(Modality::VascularInterventional));
        assert_eq!(Modality::parse_loose("rra"), Some(Modality::RadiologistAssistant));
        assert_eq!(
            Modality::parse_loose("Vascular_Sonography"),
            Some(Modality::VascularSonography)
        );
        assert_eq!(Modality::parse_loose("xray"), None);
    }
}
