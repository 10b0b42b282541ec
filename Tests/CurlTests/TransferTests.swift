import Curl
import Foundation
import TestSupport
import Testing

@Suite("libcurl transfers against loopback servers")
struct TransferTests {
    func message(to address: String) throws -> MailMessage {
        MailMessage(
            from: try MailAddress("dpo@smarttec.example", name: "SmartTec DPO"),
            to: [try MailAddress(address, name: "สมชาย ใจดี")],
            subject: "คำขอของท่านเสร็จสมบูรณ์", text: "เรียน คุณสมชาย", html: "<p>เรียน คุณสมชาย</p>",
            messageID: "notice-\(UUID().uuidString)@dsrd")
    }

    @Test func smtpDeliversAThaiMessageWithBothParts() async throws {
        let sink = try await ScriptedServer.smtpSink()
        var configuration = SMTPClient.Configuration(url: "smtp://127.0.0.1:\(sink.port)")
        configuration.requireTLS = false
        let sent = try message(to: "somchai@example.co.th")
        try await SMTPClient(configuration: configuration).send(sent)
        let received = try sink.messages()
        #expect(received.count == 1)
        let raw = try #require(received.first)
        let subjectLine = try #require(raw.components(separatedBy: "\r\nSubject: ").last?.components(separatedBy: "\r\nMessage-ID").first)
        #expect(decodeEncodedWords(subjectLine) == "คำขอของท่านเสร็จสมบูรณ์")
        #expect(raw.contains("Message-ID: <\(sent.messageID)>"))
        #expect(raw.contains("text/plain; charset=UTF-8") && raw.contains("text/html; charset=UTF-8"))
    }

    @Test func requiredStartTLSMissingFailsWithoutSendingInClearText() async throws {
        let sink = try await ScriptedServer.smtpSink()
        let client = SMTPClient(configuration: SMTPClient.Configuration(url: "smtp://127.0.0.1:\(sink.port)"))
        do {
            try await client.send(try message(to: "somchai@example.co.th"))
            Issue.record("sent without TLS")
        } catch let error as CurlError {
            #expect(error.code == 64)  // CURLE_USE_SSL_FAILED
            #expect(!error.isTransient)
            #expect(error.description.contains("SSL") || error.description.contains("TLS"))
        }
        #expect(try sink.messages().isEmpty)
    }

    @Test func rejectedRecipientsArePermanentAndTemporaryRefusalsTransient() async throws {
        let sink = try await ScriptedServer.smtpSink()
        var configuration = SMTPClient.Configuration(url: "smtp://127.0.0.1:\(sink.port)")
        configuration.requireTLS = false
        let client = SMTPClient(configuration: configuration)
        for (address, code, transient) in [("reject@example.com", 550, false), ("tempfail@example.com", 451, true)] {
            do {
                try await client.send(try message(to: address))
                Issue.record("accepted \(address)")
            } catch let error as CurlError {
                #expect(error.responseCode == code)
                #expect(error.isTransient == transient)
            }
        }
        #expect(try sink.messages().isEmpty)
    }

    @Test func httpPostCarriesBodyAndBasicAuthAndReturnsStatus() async throws {
        let stub = try await ScriptedServer.httpStub(statuses: [500, 202], body: #"{"id": "msg-1"}"#)
        var request = HTTPRequest(
            method: "POST", url: stub.url + "/v1/messages", headers: [("Content-Type", "application/json")],
            body: Data(#"{"to": "+66812345678", "text": "คำขอของท่านเสร็จแล้ว"}"#.utf8))
        request.basicAuth = ("account", "secret")
        let client = HTTPClient()
        let first = try await client.send(request)
        let second = try await client.send(request)
        #expect(first.status == 500)
        #expect(second.status == 202)
        #expect(second.text == #"{"id": "msg-1"}"#)
        let seen = try stub.requests()
        #expect(seen.count == 2)
        #expect(seen[0].method == "POST" && seen[0].path == "/v1/messages")
        #expect(seen[0].body.contains("คำขอของท่านเสร็จแล้ว"))
        #expect(seen[0].headers["Authorization"] == "Basic " + Data("account:secret".utf8).base64EncodedString())
    }

    @Test func unreachableServerIsATransientError() async throws {
        var request = HTTPRequest(method: "GET", url: "http://127.0.0.1:1/")
        request.connectTimeout = .seconds(2)
        do {
            _ = try await HTTPClient().send(request)
            Issue.record("expected a connection error")
        } catch let error as CurlError {
            #expect(error.isTransient)
        }
        await #expect(throws: CurlError.self) {
            try await HTTPClient().send(HTTPRequest(method: "GET", url: "file:///etc/passwd"))
        }
    }
}
