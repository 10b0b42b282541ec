import Foundation

/// The monthly report's words in Thai and English.
enum ReportWords {
    /// Short names of the rights, for table rows and chart labels.
    static func kind(_ kind: String, locale: String) -> String {
        let words: [String: (th: String, en: String)] = [
            "access": ("ขอเข้าถึงและรับสำเนา", "access"),
            "portability": ("ขอรับหรือโอนย้ายข้อมูล", "portability"),
            "erasure": ("ขอลบหรือทำลาย", "erasure"),
            "rectification": ("ขอแก้ไข", "rectification"),
            "restriction": ("ขอระงับการใช้", "restriction"),
            "objection": ("คัดค้าน", "objection"),
            "consent_withdrawal": ("ถอนความยินยอม", "consent withdrawal"),
        ]
        guard let word = words[kind] else { return kind }
        return locale == "en" ? word.en : word.th
    }

    static func status(_ status: String, locale: String) -> String {
        let words: [String: (th: String, en: String)] = [
            "received": ("รับคำขอแล้ว", "received"),
            "in_progress": ("กำลังดำเนินการ", "in progress"),
            "waiting": ("รอระบบหรือผู้รับผิดชอบ", "waiting for a store or person"),
            "awaiting_verification": ("รอยืนยันตัวตน", "awaiting identity verification"),
            "completed": ("ดำเนินการแล้ว", "completed"),
            "refused": ("ปฏิเสธ", "refused"),
            "cancelled": ("ยกเลิก", "cancelled"),
        ]
        guard let word = words[status] else { return status }
        return locale == "en" ? word.en : word.th
    }

    /// The order statuses are listed in.
    static let statusOrder = ["received", "awaiting_verification", "in_progress", "waiting", "completed", "refused", "cancelled"]
    /// The order kinds are listed in.
    static let kindOrder = ["access", "portability", "erasure", "rectification", "restriction", "objection", "consent_withdrawal"]

    static func percent(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.1f%%", value)
    }

    static func days(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.1f", value)
    }

    /// Every word of the page, by key.
    static func text(_ key: Key, locale: String) -> String {
        let pair = key.words
        return locale == "en" ? pair.en : pair.th
    }

    enum Key {
        case title, period, readAt, partialMonth, summary, received, answered, onTime, late, medianDays, worstDays
        case overdueAtEnd, openAtEnd, cancelled, refused, byKindAndStatus, kind, total, answers, answersNote, refusals
        case ground, section, reason, count, noRefusals, noRequests, noAnswers, breaches, breachesRecorded
        case highRisk, risk, unlikely, notifiedInTime, notifiedLate, notNotified, breachesNote, definitions
        case chartReceived, chartOnTime, chartRefusals, chartBreaches

        var words: (th: String, en: String) {
            switch self {
            case .title: ("รายงานประจำเดือน: คำขอใช้สิทธิของเจ้าของข้อมูลส่วนบุคคล", "Monthly report: data subject rights requests")
            case .period: ("ช่วงเวลา", "Period")
            case .readAt: ("ข้อมูล ณ", "Figures as of")
            case .partialMonth:
                ("เดือนนี้ยังไม่สิ้นสุด ตัวเลขนับถึงเวลาที่จัดทำรายงาน", "The month is not over: figures count up to when the report was made.")
            case .summary: ("สรุป", "Summary")
            case .received: ("คำขอที่ได้รับ", "Requests received")
            case .answered: ("คำขอที่ตอบแล้ว (ดำเนินการหรือปฏิเสธ)", "Requests answered (completed or refused)")
            case .onTime: ("ตอบภายในกำหนด", "Answered on time")
            case .late: ("ตอบเกินกำหนด", "Answered late")
            case .medianDays: ("ค่ามัธยฐานของจำนวนวันที่ใช้ตอบ", "Median days to answer")
            case .worstDays: ("จำนวนวันที่ใช้ตอบนานที่สุด", "Longest days to answer")
            case .overdueAtEnd: ("คำขอค้างเกินกำหนด ณ สิ้นเดือน", "Open past the deadline at the end of the month")
            case .openAtEnd: ("คำขอที่ยังไม่เสร็จ ณ สิ้นเดือน", "Open at the end of the month")
            case .cancelled: ("คำขอที่ยกเลิก", "Requests cancelled")
            case .refused: ("คำขอที่ปฏิเสธ", "Requests refused")
            case .byKindAndStatus: ("คำขอที่ได้รับในเดือนนี้ จำแนกตามสิทธิและสถานะปัจจุบัน", "Requests received this month, by right and current status")
            case .kind: ("สิทธิ", "Right")
            case .total: ("รวม", "Total")
            case .answers: ("การตอบคำขอในเดือนนี้", "Requests answered this month")
            case .answersNote:
                (
                    "ตอบภายในกำหนด หมายถึง ดำเนินการเสร็จหรือแจ้งปฏิเสธภายในวันครบกำหนด (รวมการขยายเวลาที่แจ้งเจ้าของข้อมูลแล้ว) จำนวนวันนับจากวันที่ได้รับคำขอ",
                    "On time: completed or refused by the deadline (as extended, when the person was told of an extension). Days count from receipt."
                )
            case .refusals: ("การปฏิเสธคำขอ จำแนกตามเหตุ", "Refusals by ground")
            case .ground: ("เหตุ", "Ground")
            case .section: ("มาตรา", "Section")
            case .reason: ("ข้อความที่แจ้งเจ้าของข้อมูล", "What the person was told")
            case .count: ("จำนวน", "Number")
            case .noRefusals: ("ไม่มีการปฏิเสธคำขอในเดือนนี้", "No request was refused this month.")
            case .noRequests: ("ไม่มีคำขอที่ได้รับในเดือนนี้", "No request was received this month.")
            case .noAnswers: ("ไม่มีคำขอที่ตอบในเดือนนี้", "No request was answered this month.")
            case .breaches: ("เหตุละเมิดข้อมูลส่วนบุคคล", "Personal data breaches")
            case .breachesRecorded: ("เหตุละเมิดที่ทราบในเดือนนี้", "Breaches the company became aware of this month")
            case .highRisk: ("ความเสี่ยงสูง", "high risk")
            case .risk: ("มีความเสี่ยง", "risk")
            case .unlikely: ("ไม่น่าจะมีความเสี่ยง", "risk unlikely")
            case .notifiedInTime: ("แจ้ง สคส. ภายใน 72 ชั่วโมง", "PDPC told within 72 hours")
            case .notifiedLate: ("แจ้ง สคส. เกิน 72 ชั่วโมง", "PDPC told after 72 hours")
            case .notNotified: ("ยังไม่ได้แจ้ง สคส.", "PDPC not yet told")
            case .breachesNote:
                (
                    "มาตรา 37(4): แจ้งสำนักงานภายใน 72 ชั่วโมงนับแต่ทราบเหตุ เว้นแต่ไม่มีความเสี่ยง (dsr.breaches)",
                    "Section 37(4): the PDPC Office is told within 72 hours of awareness unless there is no risk (dsr.breaches)."
                )
            case .definitions:
                (
                    "ตัวเลขทั้งหมดอ่านจากฐานข้อมูลของ dsrd (dsr.requests, dsr.refusals) เวลาตามเขตเวลาของบริษัท รายงานนี้ไม่มีข้อมูลส่วนบุคคล",
                    "Every figure is read from dsrd's database (dsr.requests, dsr.refusals), in the company's time zone. This report holds no personal data."
                )
            case .chartReceived: ("คำขอที่ได้รับ จำแนกตามสิทธิ", "Requests received, by right")
            case .chartOnTime: ("ร้อยละที่ตอบภายในกำหนด จำแนกตามสิทธิ", "Share answered on time, by right")
            case .chartRefusals: ("การปฏิเสธ จำแนกตามเหตุ", "Refusals, by ground")
            case .chartBreaches: ("เหตุละเมิด จำแนกตามระดับความเสี่ยง", "Breaches, by risk")
            }
        }
    }
}
