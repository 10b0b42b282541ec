import Foundation

/// Words for the register of processing activities (PDPA s.39): lawful bases, transfer
/// safeguards and countries. Kept apart from the summary's words because some codes mean
/// other things there (`contract` the purpose is not `contract` the lawful basis).
extension PrivacyVocabulary {
    /// The data categories in the order the privacy policy lists them.
    static let categoryOrder = ["personal", "contact", "account", "identity_proof", "transaction_financial", "technical", "other"]

    /// Lawful bases of PDPA s.24 (personal data) and s.26 (sensitive data), each with its section.
    static let lawfulBases: Set = [
        "consent", "explicit_consent", "contract", "legal_obligation", "vital_interest", "public_task", "legitimate_interest",
        "research_statistics", "legal_claims", "sensitive_legal_duty",
    ]

    /// What makes a transfer abroad lawful: the s.28 exceptions and the s.29 rules.
    static let safeguards: Set = [
        "adequacy", "legal_requirement", "informed_consent", "contract_with_subject", "contract_for_subject", "protect_life",
        "public_interest", "binding_corporate_rules", "appropriate_safeguards",
    ]

    static func lawfulBasisLabel(_ code: String, locale: String) -> String {
        (locale == "en" ? lawfulBasisEnglish : lawfulBasisThai)[code] ?? code
    }

    static func safeguardLabel(_ code: String, locale: String) -> String {
        (locale == "en" ? safeguardEnglish : safeguardThai)[code] ?? code
    }

    /// Whether `code` is an ISO 3166-1 alpha-2 country code (`US`, `SG`; not `us`, `USA` or `001`).
    static func isCountryCode(_ code: String) -> Bool {
        code.count == 2 && code.allSatisfy { $0.isASCII && $0.isUppercase }
            && Locale.Region.isoRegions.contains(Locale.Region(code))
    }

    /// The country's name in Thai or English (`สหรัฐอเมริกา`, `United States`).
    static func countryName(_ code: String, locale: String) -> String {
        Locale(identifier: locale == "en" ? "en" : "th").localizedString(forRegionCode: code) ?? code
    }

    private static let lawfulBasisThai: [String: String] = [
        "consent": "ความยินยอมของเจ้าของข้อมูล (มาตรา 19)",
        "explicit_consent": "ความยินยอมโดยชัดแจ้งสำหรับข้อมูลอ่อนไหว (มาตรา 26)",
        "contract": "จำเป็นเพื่อปฏิบัติตามสัญญากับเจ้าของข้อมูล (มาตรา 24(3))",
        "legal_obligation": "จำเป็นเพื่อปฏิบัติตามกฎหมาย (มาตรา 24(6))",
        "vital_interest": "ป้องกันหรือระงับอันตรายต่อชีวิต ร่างกาย หรือสุขภาพ (มาตรา 24(2))",
        "public_task": "ภารกิจเพื่อประโยชน์สาธารณะหรือการใช้อำนาจรัฐ (มาตรา 24(4))",
        "legitimate_interest": "ประโยชน์โดยชอบด้วยกฎหมายของบริษัทหรือผู้อื่น (มาตรา 24(5))",
        "research_statistics": "เอกสารประวัติศาสตร์ จดหมายเหตุ การศึกษาวิจัย หรือสถิติ (มาตรา 24(1))",
        "legal_claims": "การก่อตั้ง ใช้ หรือยกขึ้นต่อสู้สิทธิเรียกร้องตามกฎหมาย (ข้อมูลอ่อนไหว มาตรา 26(4))",
        "sensitive_legal_duty": "หน้าที่ตามกฎหมายด้านเวชศาสตร์ป้องกัน สาธารณสุข การคุ้มครองแรงงาน หรือประโยชน์สาธารณะที่สำคัญ (ข้อมูลอ่อนไหว มาตรา 26(5))",
    ]

    private static let lawfulBasisEnglish: [String: String] = [
        "consent": "the person's consent (s.19)",
        "explicit_consent": "explicit consent for sensitive data (s.26)",
        "contract": "necessary for a contract with the person (s.24(3))",
        "legal_obligation": "necessary to comply with the law (s.24(6))",
        "vital_interest": "preventing a danger to life, body or health (s.24(2))",
        "public_task": "a task in the public interest or official authority (s.24(4))",
        "legitimate_interest": "legitimate interests of the company or others (s.24(5))",
        "research_statistics": "archives, research or statistics (s.24(1))",
        "legal_claims": "establishing, exercising or defending legal claims (sensitive data, s.26(4))",
        "sensitive_legal_duty":
            "a legal duty in preventive medicine, public health, labour protection or substantial public interest (sensitive data, s.26(5))",
    ]

    private static let safeguardThai: [String: String] = [
        "adequacy": "ประเทศปลายทางมีมาตรฐานการคุ้มครองข้อมูลที่เพียงพอ (มาตรา 28)",
        "legal_requirement": "เป็นการปฏิบัติตามกฎหมาย (มาตรา 28(1))",
        "informed_consent": "ความยินยอมของเจ้าของข้อมูลซึ่งได้รับแจ้งมาตรฐานของประเทศปลายทางแล้ว (มาตรา 28(2))",
        "contract_with_subject": "จำเป็นเพื่อปฏิบัติตามสัญญาซึ่งเจ้าของข้อมูลเป็นคู่สัญญา (มาตรา 28(3))",
        "contract_for_subject": "สัญญากับบุคคลอื่นเพื่อประโยชน์ของเจ้าของข้อมูล (มาตรา 28(4))",
        "protect_life": "ป้องกันหรือระงับอันตรายต่อชีวิต ร่างกาย หรือสุขภาพของเจ้าของข้อมูล (มาตรา 28(5))",
        "public_interest": "ภารกิจเพื่อประโยชน์สาธารณะที่สำคัญ (มาตรา 28(6))",
        "binding_corporate_rules": "นโยบายคุ้มครองข้อมูลในเครือกิจการที่สำนักงานรับรอง (มาตรา 29 วรรคหนึ่ง)",
        "appropriate_safeguards": "มาตรการคุ้มครองที่เหมาะสม เช่น ข้อสัญญามาตรฐาน (มาตรา 29 วรรคสาม)",
    ]

    private static let safeguardEnglish: [String: String] = [
        "adequacy": "the destination's protection standards are adequate (s.28)",
        "legal_requirement": "required by law (s.28(1))",
        "informed_consent": "the person's consent, after being told of the destination's standards (s.28(2))",
        "contract_with_subject": "necessary for a contract with the person (s.28(3))",
        "contract_for_subject": "a contract with another party for the person's benefit (s.28(4))",
        "protect_life": "preventing a danger to the person's life, body or health (s.28(5))",
        "public_interest": "a task in an important public interest (s.28(6))",
        "binding_corporate_rules": "binding corporate rules certified by the PDPC Office (s.29 para 1)",
        "appropriate_safeguards": "appropriate safeguards such as standard contractual clauses (s.29 para 3)",
    ]
}
