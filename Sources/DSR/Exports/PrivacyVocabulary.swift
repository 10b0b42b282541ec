/// Words for the export summary (PDPA s.30, GDPR Art. 15): categories, purposes,
/// recipients and sources as the seed company's privacy policy names them.
enum PrivacyVocabulary {
    static func label(_ code: String, locale: String) -> String {
        (locale == "en" ? english : thai)[code] ?? code
    }

    /// The codes a mapping may use without labels of its own, per field.
    static let categories: Set = ["personal", "contact", "account", "identity_proof", "transaction_financial", "technical", "other"]
    static let purposes: Set = [
        "account_management", "delivery", "product_improvement", "administration", "marketing", "after_sales", "feedback",
        "payment", "contract", "legal_obligation",
    ]
    static let recipients: Set = ["internal", "payment_provider", "logistics", "marketing_provider", "authorities"]
    static let sources: Set = ["signup", "phone", "email", "facebook_login", "google_login", "checkout", "website", "campaigns"]

    private static let thai: [String: String] = [
        "personal": "ข้อมูลส่วนตัว (ชื่อ นามสกุล วันเกิด สัญชาติ เลขประจำตัว)",
        "contact": "ข้อมูลการติดต่อ (ที่อยู่ โทรศัพท์ อีเมล)",
        "account": "ข้อมูลบัญชีผู้ใช้และประวัติการใช้งาน",
        "identity_proof": "สำเนาเอกสารยืนยันตัวตน",
        "transaction_financial": "ข้อมูลธุรกรรมและการเงิน",
        "technical": "ข้อมูลทางเทคนิค (IP คุกกี้ บันทึกการใช้งาน)",
        "other": "ข้อมูลอื่น ๆ",
        "account_management": "การจัดการบัญชีผู้ใช้", "delivery": "การจัดส่งสินค้าและบริการ",
        "product_improvement": "การพัฒนาสินค้าและบริการ", "administration": "การบริหารจัดการภายใน",
        "marketing": "การตลาดและการส่งเสริมการขาย", "after_sales": "บริการหลังการขาย",
        "feedback": "การรับฟังความคิดเห็น", "payment": "การรับชำระเงิน",
        "contract": "การปฏิบัติตามข้อกำหนดและเงื่อนไข", "legal_obligation": "การปฏิบัติตามกฎหมายและหน่วยงานกำกับ",
        "internal": "หน่วยงานภายในบริษัทที่เกี่ยวข้อง", "payment_provider": "ผู้ให้บริการชำระเงิน",
        "logistics": "ผู้ให้บริการขนส่ง", "marketing_provider": "ผู้ให้บริการด้านการตลาด",
        "authorities": "หน่วยงานของรัฐตามที่กฎหมายกำหนด",
        "signup": "การสมัครสมาชิก", "phone": "โทรศัพท์", "email": "อีเมล",
        "facebook_login": "Facebook Login", "google_login": "Google Login", "checkout": "การสั่งซื้อสินค้า",
        "website": "การใช้งานเว็บไซต์", "campaigns": "แคมเปญการตลาดและพิกเซลติดตาม",
    ]

    private static let english: [String: String] = [
        "personal": "personal details (name, date of birth, nationality, ID numbers)",
        "contact": "contact details (address, phone, email)",
        "account": "user account and usage history",
        "identity_proof": "copies of identity documents",
        "transaction_financial": "orders, payments and bank details",
        "technical": "technical data (IP address, cookie ID, activity log)",
        "other": "other personal data",
        "account_management": "managing your account", "delivery": "delivering goods and services",
        "product_improvement": "improving products", "administration": "internal administration",
        "marketing": "marketing and promotion", "after_sales": "after-sales service",
        "feedback": "collecting feedback", "payment": "taking payment",
        "contract": "performing our terms and conditions", "legal_obligation": "complying with law and regulators",
        "internal": "departments of the company that need it", "payment_provider": "payment service providers",
        "logistics": "delivery companies", "marketing_provider": "marketing service providers",
        "authorities": "public authorities where the law requires",
        "signup": "sign-up", "phone": "telephone", "email": "email",
        "facebook_login": "Facebook Login", "google_login": "Google Login", "checkout": "your orders",
        "website": "your use of our website", "campaigns": "marketing campaigns and tracking pixels",
    ]
}
