import Testing

@testable import Curl

/// libcurl takes timeouts in whole milliseconds and reads 0 as "never time out": a limit
/// below a second must stay a limit.
@Suite("Timeouts handed to libcurl")
struct TimeoutTests {
    @Test func subSecondLimitsStayLimits() {
        #expect(Duration.milliseconds(500).curlMilliseconds == 500)
        #expect(Duration.milliseconds(1).curlMilliseconds == 1)
        #expect(Duration.microseconds(400).curlMilliseconds == 1)
        #expect(Duration.zero.curlMilliseconds == 1)
        #expect(Duration.seconds(30).curlMilliseconds == 30_000)
        #expect((Duration.seconds(2) + .microseconds(1)).curlMilliseconds == 2_001)
    }
}
