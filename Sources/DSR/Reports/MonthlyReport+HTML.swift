import Foundation

extension MonthlyReport {
    /// The report as one self-contained HTML page in `locale`: a summary, then each section as a
    /// table with a small inline SVG bar chart. No script and no external resource.
    public func html(locale: String, company: DSRConfiguration.Company, timeZone: TimeZone) -> String {
        func word(_ key: ReportWords.Key) -> String { HTMLPage.escape(ReportWords.text(key, locale: locale)) }
        let title = ReportWords.text(.title, locale: locale) + " — " + month.name(locale: locale)
        var body = "<h1>\(HTMLPage.escape(title))</h1>\n"
        let controller = company.name(locale: locale)
        if !controller.isEmpty { body += "<p class=\"meta\">\(HTMLPage.escape(controller))</p>\n" }
        let lastDay = month.end.addingTimeInterval(-1)
        body += "<p class=\"meta\">\(word(.period)): \(HTMLPage.escape(DateTexts.long(month.start, locale: locale, timeZone: timeZone)))"
        body += " – \(HTMLPage.escape(DateTexts.long(lastDay, locale: locale, timeZone: timeZone)))</p>\n"
        body += "<p class=\"meta\">\(word(.readAt)) \(HTMLPage.escape(DateTexts.long(readAt, locale: locale, timeZone: timeZone)))"
        body += " \(HTMLPage.escape(Self.time(readAt, timeZone: timeZone)))</p>\n"
        if readAt < month.end { body += "<p class=\"note\">\(word(.partialMonth))</p>\n" }
        body += summary(locale: locale)
        body += receivedSection(locale: locale)
        body += answersSection(locale: locale)
        body += refusalsSection(locale: locale)
        body += Self.breachSection(breaches, locale: locale)
        body += "<p class=\"note\">\(word(.definitions)) dsrd \(HTMLPage.escape(DSRVersion.current)).</p>\n"
        return HTMLPage.document(title: title, lang: locale, landscape: false, body: body)
    }

    func summary(locale: String) -> String {
        let rows: [(ReportWords.Key, String)] = [
            (.received, "\(receivedCount)"), (.answered, "\(total.answered)"),
            (.onTime, "\(ReportWords.percent(total.onTimePercent)) (\(total.onTime))"), (.late, "\(total.late)"),
            (.medianDays, ReportWords.days(total.medianDays)), (.worstDays, ReportWords.days(total.worstDays)),
            (.refused, "\(refusals.reduce(0) { $0 + $1.count })"), (.cancelled, "\(cancelled)"),
            (.openAtEnd, "\(openAtEnd)"), (.overdueAtEnd, "\(overdueAtEnd)"),
        ]
        var html = "<h2>\(HTMLPage.escape(ReportWords.text(.summary, locale: locale)))</h2>\n<table class=\"summary\">\n"
        for (key, value) in rows {
            let id = key == .onTime ? " id=\"on-time\"" : ""
            html +=
                "<tr\(id)><th>\(HTMLPage.escape(ReportWords.text(key, locale: locale)))</th><td class=\"number\">\(HTMLPage.escape(value))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    func receivedSection(locale: String) -> String {
        func word(_ key: ReportWords.Key) -> String { HTMLPage.escape(ReportWords.text(key, locale: locale)) }
        var html = "<h2>\(word(.byKindAndStatus))</h2>\n"
        guard !received.isEmpty else { return html + "<p>\(word(.noRequests))</p>\n" }
        let statuses = ReportWords.statusOrder.filter { status in received.contains { $0.status == status } }
        let kinds = Self.ordered(received.map(\.kind), ReportWords.kindOrder)
        html += "<table>\n<thead><tr><th>\(word(.kind))</th>"
        for status in statuses { html += "<th class=\"number\">\(HTMLPage.escape(ReportWords.status(status, locale: locale)))</th>" }
        html += "<th class=\"number\">\(word(.total))</th></tr></thead>\n<tbody>\n"
        var bars: [BarChart.Bar] = []
        for kind in kinds {
            let label = ReportWords.kind(kind, locale: locale)
            html += "<tr><td>\(HTMLPage.escape(label))</td>"
            for status in statuses {
                let count = received.first { $0.kind == kind && $0.status == status }?.count ?? 0
                html += "<td class=\"number\">\(count)</td>"
            }
            let sum = received.filter { $0.kind == kind }.reduce(0) { $0 + $1.count }
            html += "<td class=\"number\">\(sum)</td></tr>\n"
            bars.append(.init(label: label, value: Double(sum), caption: "\(sum)"))
        }
        html += "</tbody>\n</table>\n"
        return html + BarChart(title: ReportWords.text(.chartReceived, locale: locale), bars: bars).svg + "\n"
    }

    func answersSection(locale: String) -> String {
        func word(_ key: ReportWords.Key) -> String { HTMLPage.escape(ReportWords.text(key, locale: locale)) }
        var html = "<h2>\(word(.answers))</h2>\n"
        guard total.answered > 0 else { return html + "<p>\(word(.noAnswers))</p>\n" }
        html += "<table>\n<thead><tr><th>\(word(.kind))</th><th class=\"number\">\(word(.answered))</th>"
        html += "<th class=\"number\">\(word(.onTime))</th><th class=\"number\">\(word(.late))</th><th class=\"number\">%</th>"
        html += "<th class=\"number\">\(word(.medianDays))</th><th class=\"number\">\(word(.worstDays))</th></tr></thead>\n<tbody>\n"
        var bars: [BarChart.Bar] = []
        for answers in answered {
            let label = answers.kind.map { ReportWords.kind($0, locale: locale) } ?? ReportWords.text(.total, locale: locale)
            html +=
                answers.kind == nil ? "<tr class=\"total\"><th>\(HTMLPage.escape(label))</th>" : "<tr><td>\(HTMLPage.escape(label))</td>"
            html += "<td class=\"number\">\(answers.answered)</td><td class=\"number\">\(answers.onTime)</td>"
            html += "<td class=\"number\">\(answers.late)</td><td class=\"number\">\(ReportWords.percent(answers.onTimePercent))</td>"
            html += "<td class=\"number\">\(ReportWords.days(answers.medianDays))</td>"
            html += "<td class=\"number\">\(ReportWords.days(answers.worstDays))</td></tr>\n"
            if answers.kind != nil {
                bars.append(.init(label: label, value: answers.onTimePercent ?? 0, caption: ReportWords.percent(answers.onTimePercent)))
            }
        }
        html += "</tbody>\n</table>\n<p class=\"note\">\(word(.answersNote))</p>\n"
        return html + BarChart(title: ReportWords.text(.chartOnTime, locale: locale), bars: bars, scale: 100).svg + "\n"
    }

    func refusalsSection(locale: String) -> String {
        func word(_ key: ReportWords.Key) -> String { HTMLPage.escape(ReportWords.text(key, locale: locale)) }
        var html = "<h2>\(word(.refusals))</h2>\n"
        guard !refusals.isEmpty else { return html + "<p>\(word(.noRefusals))</p>\n" }
        html += "<table>\n<thead><tr><th>\(word(.ground))</th><th>\(word(.section))</th><th>\(word(.reason))</th>"
        html += "<th class=\"number\">\(word(.count))</th></tr></thead>\n<tbody>\n"
        for refusal in refusals {
            let text = locale == "en" ? refusal.textEN : refusal.textTH
            html += "<tr><td>\(HTMLPage.escape(refusal.ground))</td><td>\(HTMLPage.escape(refusal.section))</td>"
            html += "<td>\(HTMLPage.escape(text))</td><td class=\"number\">\(refusal.count)</td></tr>\n"
        }
        html += "</tbody>\n</table>\n"
        let bars = refusals.map { BarChart.Bar(label: $0.ground, value: Double($0.count), caption: "\($0.count)") }
        return html + BarChart(title: ReportWords.text(.chartRefusals, locale: locale), bars: bars).svg + "\n"
    }

    static func breachSection(_ breaches: Breaches, locale: String) -> String {
        func word(_ key: ReportWords.Key) -> String { HTMLPage.escape(ReportWords.text(key, locale: locale)) }
        var html = "<h2 id=\"breaches\">\(word(.breaches))</h2>\n<table>\n"
        let rows: [(ReportWords.Key, Int)] = [
            (.breachesRecorded, breaches.recorded), (.highRisk, breaches.highRisk), (.risk, breaches.risk), (.unlikely, breaches.unlikely),
            (.notifiedInTime, breaches.notifiedInTime), (.notifiedLate, breaches.notifiedLate), (.notNotified, breaches.notNotified),
        ]
        for (key, value) in rows { html += "<tr><th>\(word(key))</th><td class=\"number\">\(value)</td></tr>\n" }
        html += "</table>\n<p class=\"note\">\(word(.breachesNote))</p>\n"
        guard breaches.recorded > 0 else { return html }
        let bars: [BarChart.Bar] = [(Key.highRisk, breaches.highRisk), (.risk, breaches.risk), (.unlikely, breaches.unlikely)].map {
            .init(label: ReportWords.text($0.0, locale: locale), value: Double($0.1), caption: "\($0.1)")
        }
        return html + BarChart(title: ReportWords.text(.chartBreaches, locale: locale), bars: bars).svg + "\n"
    }

    private typealias Key = ReportWords.Key

    /// `values` once each, those named in `order` first and in its order, the rest sorted.
    static func ordered(_ values: [String], _ order: [String]) -> [String] {
        let present = Set(values)
        return order.filter(present.contains) + present.subtracting(order).sorted()
    }

    /// `14:05` in the time zone.
    static func time(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }
}
