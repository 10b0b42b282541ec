import Curl
import Foundation

extension NoticeHandler {
    /// Builds the handler from the configuration: templates parsed, secrets read, channels
    /// that are not configured left out (their notices wait and retry, visible in dsr.notices).
    public static func make(configuration: DSRConfiguration, pool: ConnectionPool) throws -> NoticeHandler {
        let templates = try NoticeTemplates(directory: configuration.resolvedPath(configuration.notices.templatesDirectory))
        var smtp: SMTPClient?
        var sender: MailAddress?
        if !configuration.email.smtpURL.isEmpty {
            var settings = SMTPClient.Configuration(
                url: configuration.email.smtpURL,
                username: configuration.email.username.isEmpty ? nil : configuration.email.username,
                password: try configuration.secret(fromFile: configuration.email.passwordFile, key: "email.password_file"))
            if settings.password?.isEmpty == true { settings.password = nil }
            settings.requireTLS = configuration.email.requireTLS
            settings.verifyTLS = configuration.email.verifyTLS
            smtp = SMTPClient(configuration: settings)
            do {
                sender = try MailAddress(configuration.email.fromAddress, name: configuration.email.fromName)
            } catch {
                throw ConfigurationError("email.from_address is not a valid email address")
            }
        }
        var sms: SMSGateway?
        if !configuration.sms.url.isEmpty {
            var settings = configuration.sms
            if settings.sender.isEmpty { settings.sender = configuration.company.smsName }
            sms = SMSGateway(
                settings: settings,
                password: try configuration.secret(fromFile: configuration.sms.passwordFile, key: "sms.password_file"))
        }
        return NoticeHandler(
            pool: pool, templates: templates,
            settings: Settings(
                dpoEmail: configuration.notices.dpoEmail, dpoLocale: configuration.notices.dpoLocale,
                timeZone: TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!,
                resendInDoubt: configuration.notices.resendInDoubt, company: configuration.company,
                links: try StatusLinks.load(configuration)),
            smtp: smtp, sender: sender, sms: sms)
    }
}
