import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Headers every portal response carries, and the error pages: a strict content security
/// policy (no scripts at all, styles from the portal's own stylesheet), no framing, no
/// referrer (status and download links must not leak to other sites), no caching, no type
/// sniffing; HSTS when the portal is reached over TLS. Errors become the portal's own page
/// (413 for a body over `portal.max_body_bytes`), never a stack trace.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = PortalContext
    let strictTransport: Bool
    let pages: PortalPages
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch is NIOTooManyBytesError {
            response = errorPage(.contentTooLarge, "error_too_large", request)
        } catch is PortalForm.Invalid {
            response = errorPage(.badRequest, "error_text", request)
        } catch let error as HTTPError {
            response = errorPage(error.status, error.status == .notFound ? "error_not_found" : "error_general", request)
        } catch {
            // The type only: messages may hold what was submitted.
            logger.error("portal request failed", metadata: ["dsr.error_type": "\(type(of: error))"])
            response = errorPage(.internalServerError, "error_general", request)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        response.headers[.cacheControl] = "no-store"
        if strictTransport { response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains" }
        return response
    }

    func errorPage(_ status: HTTPResponse.Status, _ message: String, _ request: Request) -> Response {
        let language = PortalServer.language(of: request)
        let html = pages.render(
            "message", language: language, values: ["title_key": message, "message": pages.word(message, language)],
            path: request.uri.path)
        return PortalServer.html(status, html)
    }
}
