/// The register's own words in Thai and English: column headings, kinds of store, titles.
enum RegisterWords {
    static func heading(_ column: ProcessingRegister.Column, locale: String) -> String {
        switch column {
        case .store: locale == "en" ? "Store" : "ระบบจัดเก็บ"
        case .storeType: locale == "en" ? "Kind of store" : "ลักษณะการจัดเก็บ"
        case .table: locale == "en" ? "Table or record set" : "ตารางหรือชุดเอกสาร"
        case .dataCategories: locale == "en" ? "Personal data" : "ข้อมูลส่วนบุคคลที่เก็บรวบรวม"
        case .purposes: locale == "en" ? "Purposes" : "วัตถุประสงค์"
        case .recipients: locale == "en" ? "Recipients" : "ผู้รับข้อมูล"
        case .transfers: locale == "en" ? "Transfers abroad" : "การส่งหรือโอนข้อมูลไปต่างประเทศ"
        case .retention: locale == "en" ? "Retention" : "ระยะเวลาการเก็บรักษา"
        case .lawfulBasis: locale == "en" ? "Lawful basis" : "ฐานทางกฎหมาย"
        case .sources: locale == "en" ? "Sources" : "แหล่งที่มาของข้อมูล"
        }
    }

    static func storeKind(_ kind: StoreMapping.Kind, locale: String) -> String {
        switch kind {
        case .postgres: locale == "en" ? "electronic: database" : "อิเล็กทรอนิกส์: ฐานข้อมูล"
        case .http: locale == "en" ? "electronic: online service" : "อิเล็กทรอนิกส์: บริการออนไลน์"
        case .manual: locale == "en" ? "paper or kept by hand" : "เอกสารหรือจัดการโดยบุคคล"
        }
    }

    static func none(locale: String) -> String { locale == "en" ? "none" : "ไม่มี" }
    static func notStated(locale: String) -> String { locale == "en" ? "not stated" : "ยังไม่ได้ระบุ" }

    static func title(locale: String) -> String {
        locale == "en" ? "Record of processing activities" : "บันทึกรายการกิจกรรมการประมวลผลข้อมูลส่วนบุคคล"
    }

    static func law(locale: String) -> String {
        locale == "en"
            ? "Personal Data Protection Act B.E. 2562, section 39"
            : "พระราชบัญญัติคุ้มครองข้อมูลส่วนบุคคล พ.ศ. 2562 มาตรา 39"
    }
}
