import Foundation

/// Named places where a test can make the process die, to prove crash safety
/// (`DSRD_FAILPOINT=notice.after_send`). Inert unless that variable names the point.
enum Failpoints {
    private static let armed = ProcessInfo.processInfo.environment["DSRD_FAILPOINT"]

    static func hit(_ name: String) {
        if armed == name { kill(getpid(), SIGKILL) }
    }
}
