import Foundation
import Testing

@testable import DSR

/// Values encoded from PostgreSQL's text form straight into the export's JSON and CSV
/// buffers, without a database (the values a real server sends are in TableFileWriterTests).
@Suite("Export field encoding")
struct FieldEncodingTests {
    static func timestamp(_ text: String, csv wantsCSV: Bool = true) -> (json: String, csv: String?) {
        var json: [UInt8] = []
        var csv: [UInt8]? = wantsCSV ? [] : nil
        Array(text.utf8).withUnsafeBytes { TableFileWriter.encode($0, as: .timestamp, json: &json, csv: &csv) }
        return (String(decoding: json, as: UTF8.self), csv.map { String(decoding: $0, as: UTF8.self) })
    }

    @Test func timestampsBecomeISO8601() {
        #expect(Self.timestamp("2026-11-25 11:40:06.5+00") == ("\"2026-11-25T11:40:06.5Z\"", "2026-11-25T11:40:06.5Z"))
        #expect(Self.timestamp("2026-11-25 11:40:06") == ("\"2026-11-25T11:40:06\"", "2026-11-25T11:40:06"))
        #expect(Self.timestamp("2026-11-25 11:40:06+00", csv: false) == ("\"2026-11-25T11:40:06Z\"", nil))
        #expect(Self.timestamp("infinity") == ("\"infinity\"", "infinity"))
        #expect(Self.timestamp("0044-03-15 12:00:00+00 BC") == ("\"0044-03-15T12:00:00+00 BC\"", "0044-03-15T12:00:00+00 BC"))
        #expect(Self.timestamp("+00") == ("\"+00\"", "+00"))
    }

    /// Text no timestamp holds is still escaped for JSON and quoted for CSV.
    @Test func aTimestampWithCharactersToEscapeIsEscaped() {
        #expect(Self.timestamp("a,\"b c\\+00") == (#""a,\"bTc\\Z""#, #""a,""bTc\Z""#))
        #expect(Self.timestamp("x\ny") == (#""x\ny""#, "\"x\ny\""))
    }
}
