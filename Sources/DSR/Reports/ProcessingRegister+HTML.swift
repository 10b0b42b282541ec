import Foundation

extension ProcessingRegister {
    /// The register as one self-contained HTML page in `locale`: who the controller is and how
    /// to reach them, then one row per store table. Columns the mapping leaves empty show
    /// "not stated" in red, so gaps are seen before the register reaches the PDPC.
    public func html(locale: String, company: DSRConfiguration.Company, generatedAt: Date, timeZone: TimeZone) -> String {
        let en = locale == "en"
        var body = "<h1>\(HTMLPage.escape(RegisterWords.title(locale: locale)))</h1>\n"
        body += "<p class=\"meta\">\(HTMLPage.escape(RegisterWords.law(locale: locale)))</p>\n"
        let controller = company.name(locale: locale)
        if !controller.isEmpty {
            body += "<p class=\"meta\">\(en ? "Controller" : "ผู้ควบคุมข้อมูลส่วนบุคคล"): \(HTMLPage.escape(controller))</p>\n"
        }
        let contact = [company.contactEmail, company.contactPhone].filter { !$0.isEmpty }.joined(separator: ", ")
        if !contact.isEmpty {
            body += "<p class=\"meta\">\(en ? "Contact (data protection officer)" : "ช่องทางติดต่อ (เจ้าหน้าที่คุ้มครองข้อมูลส่วนบุคคล)"): "
            body += "\(HTMLPage.escape(contact))</p>\n"
        }
        let date = DateTexts.long(generatedAt, locale: locale, timeZone: timeZone)
        body += "<p class=\"meta\">\(en ? "Made on" : "จัดทำเมื่อ") \(HTMLPage.escape(date)) "
        body += "\(en ? "from the store mappings by" : "จากการกำหนดค่าระบบจัดเก็บ โดย") dsrd \(HTMLPage.escape(DSRVersion.current)); "
        body += "\(en ? "tables" : "จำนวนตาราง"): \(entries.count)</p>\n"
        body += "<table>\n<thead><tr>"
        for column in Column.allCases { body += "<th>\(HTMLPage.escape(RegisterWords.heading(column, locale: locale)))</th>" }
        body += "</tr></thead>\n<tbody>\n"
        for entry in entries {
            body += "<tr>"
            for column in Column.allCases { body += "<td>\(Self.cell(entry, column, locale: locale))</td>" }
            body += "</tr>\n"
        }
        body += "</tbody>\n</table>\n"
        return HTMLPage.document(title: RegisterWords.title(locale: locale), lang: locale, landscape: true, body: body)
    }

    static func cell(_ entry: Entry, _ column: Column, locale: String) -> String {
        let items = entry.items(column, locale: locale)
        switch items.count {
        case 0:
            let text = HTMLPage.escape(entry.text(column, locale: locale))
            return column == .transfers ? text : "<span class=\"missing\">\(text)</span>"
        case 1:
            return HTMLPage.escape(items[0])
        default:
            return "<ul>" + items.map { "<li>\(HTMLPage.escape($0))</li>" }.joined() + "</ul>"
        }
    }
}
