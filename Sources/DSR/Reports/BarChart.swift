/// A horizontal bar chart as inline SVG: no script, no external font or image, readable in a
/// browser, in print and (where the mail client shows SVG) in an email. Every figure a chart
/// shows is also in a table beside it, so nothing is lost where SVG is not shown.
struct BarChart {
    struct Bar {
        let label: String
        let value: Double
        /// What is written after the bar, e.g. `12` or `87.5%`.
        let caption: String
    }

    /// Read by screen readers and shown as a tooltip.
    let title: String
    let bars: [Bar]
    /// The value a full-width bar stands for; default the largest value.
    var scale: Double?

    static let width = 640
    static let labelWidth = 230
    static let barArea = 330
    static let rowHeight = 26

    var svg: String {
        let height = max(bars.count, 1) * Self.rowHeight + 8
        let full = max(scale ?? bars.map(\.value).max() ?? 0, 1)
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.width)\" height=\"\(height)\" "
        out += "viewBox=\"0 0 \(Self.width) \(height)\" role=\"img\" aria-label=\"\(HTMLPage.escape(title))\">"
        out += "<title>\(HTMLPage.escape(title))</title>"
        out +=
            "<line x1=\"\(Self.labelWidth)\" y1=\"0\" x2=\"\(Self.labelWidth)\" y2=\"\(height - 4)\" stroke=\"#888\" stroke-width=\"1\"/>"
        for (index, bar) in bars.enumerated() {
            let y = index * Self.rowHeight + 4
            let length = Int((max(bar.value, 0) / full * Double(Self.barArea)).rounded())
            out += "<text x=\"\(Self.labelWidth - 8)\" y=\"\(y + 16)\" text-anchor=\"end\" font-size=\"13\" fill=\"#1a1a1a\">"
            out += "\(HTMLPage.escape(bar.label))</text>"
            out += "<rect x=\"\(Self.labelWidth)\" y=\"\(y + 3)\" width=\"\(length)\" height=\"18\" fill=\"#3b6ea8\"/>"
            out += "<text x=\"\(Self.labelWidth + length + 6)\" y=\"\(y + 16)\" font-size=\"13\" fill=\"#1a1a1a\">"
            out += "\(HTMLPage.escape(bar.caption))</text>"
        }
        return out + "</svg>"
    }
}
