import Foundation
import Testing

@testable import Curl

/// Decodes RFC 2047 `=?UTF-8?B?...?=` words (folded with CRLF + space) for assertions.
func decodeEncodedWords(_ value: String) -> String {
    let unfolded = value.replacingOccurrences(of: "\r\n ", with: " ")
    var result = ""
    var pendingBytes = Data()
    for token in unfolded.split(separator: " ", omittingEmptySubsequences: false) {
        if token.hasPrefix("=?UTF-8?B?") && token.hasSuffix("?=") {
            pendingBytes += Data(base64Encoded: String(token.dropFirst(10).dropLast(2))) ?? Data()
        } else {
            result += String(decoding: pendingBytes, as: UTF8.self) + (result.isEmpty && pendingBytes.isEmpty ? "" : " ") + token
            pendingBytes = Data()
        }
    }
    return result + String(decoding: pendingBytes, as: UTF8.self)
}

@Suite("MIME messages")
struct MailMessageTests {
    let thaiSubject = "คำขอใช้สิทธิ์ของท่านเสร็จสมบูรณ์แล้ว — หมายเลขคำขอ 6f48d8e7"

    @Test func thaiSubjectAndNamesAreEncodedWordsThatDecodeBack() throws {
        let encoded = MIMEEncoding.encodedWords(thaiSubject)
        #expect(encoded.hasPrefix("=?UTF-8?B?"))
        for line in encoded.components(separatedBy: "\r\n") {
            #expect(line.trimmingCharacters(in: .whitespaces).count <= 75)
        }
        #expect(decodeEncodedWords(encoded) == thaiSubject)
        #expect(MIMEEncoding.encodedWords("Plain ASCII subject") == "Plain ASCII subject")
        // Line breaks cannot smuggle headers: they are encoded, not passed through.
        let injected = MIMEEncoding.encodedWords("Hi\r\nBcc: victim@example.com")
        #expect(!injected.contains("\r\nBcc:"))
    }

    @Test func renderedMessageHasBothPartsAndStableHeaders() throws {
        let message = MailMessage(
            from: try MailAddress("dpo@smarttec.example", name: "เจ้าหน้าที่คุ้มครองข้อมูล"),
            to: [try MailAddress("somchai@example.co.th", name: "สมชาย ใจดี")],
            subject: thaiSubject, text: "เรียน คุณสมชาย\nคำขอของท่านเสร็จแล้ว", html: "<p>เรียน คุณสมชาย</p>",
            messageID: "notice-42@dsrd", date: Date(timeIntervalSince1970: 1_795_606_806))
        let text = String(decoding: message.rendered(boundary: "BOUNDARY"), as: UTF8.self)
        #expect(text.contains("Date: Wed, 25 Nov 2026 11:40:06 +0000\r\n"))
        #expect(text.contains("Message-ID: <notice-42@dsrd>\r\n"))
        #expect(text.contains("Content-Type: multipart/alternative; boundary=\"BOUNDARY\"\r\n"))
        #expect(text.contains("Content-Type: text/plain; charset=UTF-8\r\n"))
        #expect(text.contains("Content-Type: text/html; charset=UTF-8\r\n"))
        #expect(text.hasSuffix("--BOUNDARY--\r\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(text.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
    }

    @Test func everyLineEndingBecomesOneCRLFAndSingleDigitDatesArePadded() throws {
        let part = MIMEEncoding.part(contentType: "text/plain; charset=UTF-8", body: "ก\nข\r\nค\r\r\nง")
        let body = Data(base64Encoded: part[3], options: .ignoreUnknownCharacters) ?? Data()
        #expect(String(decoding: body, as: UTF8.self) == "ก\r\nข\r\nค\r\r\nง")
        // 2026-03-01 09:05:07 UTC, a Sunday.
        #expect(MIMEEncoding.rfc5322Date(Date(timeIntervalSince1970: 1_772_355_907)) == "Sun, 01 Mar 2026 09:05:07 +0000")
    }

    @Test func asciiDisplayNamesWithSpecialsAreQuoted() throws {
        #expect(try MailAddress("dpo@smarttec.example", name: "SmartTec (DPO)").header == "\"SmartTec (DPO)\"\r\n <dpo@smarttec.example>")
        #expect(try MailAddress("dpo@smarttec.example", name: "Say \"hi\"").header == "\"Say \\\"hi\\\"\"\r\n <dpo@smarttec.example>")
        #expect(try MailAddress("dpo@smarttec.example", name: "SmartTec DPO").header == "SmartTec DPO\r\n <dpo@smarttec.example>")
    }

    @Test func addressesThatCouldInjectHeadersAreRefused() {
        for bad in ["a@b.c\r\nBcc: x@y.z", "a b@c.d", "no-at-sign", "two@@signs", "@nolocal", "<a@b.c>", "a@b.c,d@e.f"] {
            #expect(throws: MailError.invalidAddress, "\(bad)") { try MailAddress(bad) }
        }
    }
}
