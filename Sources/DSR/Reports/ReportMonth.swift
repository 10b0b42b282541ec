import Foundation

/// A calendar month in the company's time zone (`notices.time_zone`): what a monthly report
/// covers, from the first day's midnight up to, not including, the next month's.
public struct ReportMonth: Sendable, Equatable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let timeZone: TimeZone

    /// `2026-11`; nil for anything else (`2026-13`, `2026-1`, `11/2026`).
    public init?(_ text: String, timeZone: TimeZone) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let year = Int(parts[0]), let month = Int(parts[1]), (1...12).contains(month), year >= 2000
        else { return nil }
        self.year = year
        self.month = month
        self.timeZone = timeZone
    }

    /// The month before the one `date` falls in (the month a report is usually made for).
    public static func previous(to date: Date, timeZone: TimeZone) -> ReportMonth {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month], from: date)
        let (year, month) = parts.month! == 1 ? (parts.year! - 1, 12) : (parts.year!, parts.month! - 1)
        return ReportMonth(String(format: "%04d-%02d", year, month), timeZone: timeZone)!
    }

    public var description: String { String(format: "%04d-%02d", year, month) }

    /// Midnight of the first day, in the time zone.
    public var start: Date { Self.firstDay(year: year, month: month, timeZone: timeZone) }
    /// Midnight of the first day of the next month.
    public var end: Date {
        month == 12
            ? Self.firstDay(year: year + 1, month: 1, timeZone: timeZone) : Self.firstDay(year: year, month: month + 1, timeZone: timeZone)
    }

    /// `พฤศจิกายน 2569` (Buddhist era) or `November 2026`.
    public func name(locale: String) -> String { DateTexts.monthAndYear(start, locale: locale, timeZone: timeZone) }

    private static func firstDay(year: Int, month: Int, timeZone: TimeZone) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar.date(from: DateComponents(year: year, month: month, day: 1))!
    }
}
