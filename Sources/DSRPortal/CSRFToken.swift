import DSR
import Foundation
import Hummingbird

/// Cross-site request forgery protection by double submit: a 128-bit random token in an
/// HttpOnly, SameSite=Strict cookie, repeated in every form; a POST whose two copies differ
/// (or lack one) is refused with 403 before anything else runs.
struct CSRFToken {
    static let cookieName = "dsr_csrf"
    let value: String
    /// Whether the browser does not have it yet.
    let isNew: Bool

    init(request: Request) {
        if let existing = PortalServer.cookie(Self.cookieName, in: request), Self.isWellFormed(existing) {
            value = existing
            isNew = false
        } else {
            value = Self.random()
            isNew = true
        }
    }

    func cookies(secure: Bool) -> [String] {
        isNew ? ["\(Self.cookieName)=\(value); Path=/; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")] : []
    }

    static func matches(_ request: Request, _ form: PortalForm) -> Bool {
        guard let cookie = PortalServer.cookie(cookieName, in: request), isWellFormed(cookie), let field = form["csrf"],
            field.utf8.count == cookie.utf8.count
        else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(cookie.utf8, field.utf8) { difference |= a ^ b }
        return difference == 0
    }

    static func isWellFormed(_ token: String) -> Bool {
        Digests.isHex(token, length: 64)
    }

    /// 256 random bits as 64 lower-case hex digits (also the download links' tokens).
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return Digests.hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
