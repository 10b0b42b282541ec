import DSR
import Testing

/// The outbox's decisions without a database or a mail server.
@Suite("Notice life cycle")
struct NoticeLifecycleTests {
    @Test(arguments: [NoticeState.sent, .failed, .inDoubt, .cancelled])
    func finishedNoticesAreNeverSentAgain(state: NoticeState) {
        #expect(state.isFinal)
        for audience in Audience.allCases {
            #expect(NoticeLifecycle.start(state, audience: audience, resendInDoubt: true) == .skip)
            #expect(NoticeLifecycle.start(state, audience: audience, resendInDoubt: false) == .skip)
        }
    }

    @Test func aPendingNoticeIsSent() {
        #expect(!NoticeState.pending.isFinal && !NoticeState.sending.isFinal)
        #expect(NoticeLifecycle.start(.pending, audience: .subject, resendInDoubt: false) == .send)
    }

    @Test func aNoticeToThePersonWaitsForTheRequestsEarlierOne() {
        // Due in 30 s (a retry's backoff): waits that long; being sent now: a second.
        #expect(
            NoticeLifecycle.start(.pending, audience: .subject, resendInDoubt: true, earlierDueIn: .seconds(30))
                == .waitForEarlier(.seconds(30)))
        #expect(
            NoticeLifecycle.start(.pending, audience: .subject, resendInDoubt: true, earlierDueIn: .seconds(-5))
                == .waitForEarlier(.seconds(1)))
        #expect(
            NoticeLifecycle.start(.pending, audience: .subject, resendInDoubt: true, earlierDueIn: .seconds(86_400))
                == .waitForEarlier(.seconds(600)))
        // Nothing earlier, a notice to the DPO, or one already finished: no wait.
        #expect(NoticeLifecycle.start(.pending, audience: .subject, resendInDoubt: true, earlierDueIn: nil) == .send)
        #expect(NoticeLifecycle.start(.pending, audience: .dpo, resendInDoubt: true, earlierDueIn: .seconds(30)) == .send)
        #expect(NoticeLifecycle.start(.sent, audience: .subject, resendInDoubt: true, earlierDueIn: .seconds(30)) == .skip)
    }

    @Test func anInterruptedSendIsRepeatedOrMarkedInDoubt() {
        // resend_in_doubt (the default): a lost refusal notice is worse than a duplicate.
        #expect(NoticeLifecycle.start(.sending, audience: .subject, resendInDoubt: true) == .send)
        #expect(NoticeLifecycle.start(.sending, audience: .subject, resendInDoubt: false) == .markInDoubt(tellDPO: true))
        // The DPO is not told about the DPO's own notice.
        #expect(NoticeLifecycle.start(.sending, audience: .dpo, resendInDoubt: false) == .markInDoubt(tellDPO: false))
    }

    @Test func aSendEndsSentFailedOrBackInTheQueue() {
        #expect(NoticeLifecycle.afterSend(.delivered, audience: .subject) == .init(state: .sent, tellDPO: false))
        #expect(NoticeLifecycle.afterSend(.refused, audience: .subject) == .init(state: .failed, tellDPO: true))
        #expect(NoticeLifecycle.afterSend(.refused, audience: .dpo) == .init(state: .failed, tellDPO: false))
        #expect(NoticeLifecycle.afterSend(.notAccepted, audience: .subject) == .init(state: .pending, tellDPO: false))
    }

    @Test func languagesFallBackToThai() {
        #expect(Language(code: "en") == .english && Language(code: "th") == .thai)
        #expect(Language(code: "fr") == .thai && Language(code: nil) == .thai)
        #expect(Language.english.pick(thai: "ก", english: "a") == "a")
    }
}
