import Foundation
import Testing

@testable import Postgres

@Suite("Text formats (no server)")
struct TextFormatTests {
    @Test(arguments: [
        ("2026-11-25 11:40:06+00", 1_795_606_806.0),
        ("2026-11-25 11:40:06.5+00", 1_795_606_806.5),
        ("2026-11-25 18:40:06+07", 1_795_606_806.0),
        ("2026-11-25 06:10:06-05:30", 1_795_606_806.0),
        ("1970-01-01 00:00:00+00", 0.0),
        ("1969-12-31 23:59:59+00", -1.0),
        ("2000-02-29", 951_782_400.0),
    ])
    func timestampsParse(text: String, seconds: Double) {
        #expect(PostgresTimestamp.parse(text)?.timeIntervalSince1970 == seconds)
    }

    @Test func timestampsRejectGarbage() {
        for text in ["", "2026-13", "yesterday", "2026-11-25 11:40:06+", "2026-11-25 11:40:06 UTC"] {
            #expect(PostgresTimestamp.parse(text) == nil)
        }
        #expect(PostgresTimestamp.parse("infinity") == .distantFuture)
    }

    @Test func timestampsFormatRoundTrip() {
        for seconds in [0.0, -1.0, 1_795_606_806.123456, 951_782_400.0, 4_102_444_800.999999] {
            let date = Date(timeIntervalSince1970: seconds)
            let parsed = PostgresTimestamp.parse(PostgresTimestamp.format(date))
            #expect(abs((parsed?.timeIntervalSince1970 ?? .nan) - seconds) < 0.000_001)
        }
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
    }

    @Test func arrayLiterals() {
        #expect(PostgresArrayLiteral.parse("{}") == [])
        #expect(PostgresArrayLiteral.parse("{a,NULL,\"NULL\",\"b c\",\"q\\\"x\"}") == ["a", nil, "NULL", "b c", "q\"x"])
        #expect(PostgresArrayLiteral.parse("[0:1]={1,2}") == ["1", "2"])
        #expect(PostgresArrayLiteral.parse("{{1,2},{3,4}}") == nil)
        #expect(PostgresArrayLiteral.parse("not an array") == nil)
        #expect(PostgresArrayLiteral.format(["a", nil, "b\"c\\"]) == "{\"a\",NULL,\"b\\\"c\\\\\"}")
    }

    @Test func byteaHex() {
        #expect(Data([0, 255, 16]).postgresText == "\\x00ff10")
        #expect(Data(postgresText: "\\x00FF10") == Data([0, 255, 16]))
        #expect(Data(postgresText: "\\x0") == nil)
        #expect(Data(postgresText: "00") == nil)
    }
}
