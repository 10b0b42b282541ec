import DSR
import Testing

/// The request life cycle without a database: its moves and the planning decision.
@Suite("Request life cycle")
struct RequestLifecycleTests {
    @Test func endedRequestsNeverMoveAgain() {
        for ended in [RequestStatus.completed, .refused, .cancelled] {
            for next in RequestStatus.allCases where next != ended {
                #expect(!RequestLifecycle.canMove(from: ended, to: next), "\(ended) -> \(next)")
            }
        }
    }

    @Test func everyOpenRequestCanEndEveryWay() {
        for open in RequestStatus.allCases where open.allowsWork || open == .awaitingVerification {
            #expect(RequestLifecycle.canMove(from: open, to: .refused))
            #expect(RequestLifecycle.canMove(from: open, to: .cancelled))
        }
        #expect(!RequestLifecycle.canMove(from: .awaitingVerification, to: .completed))  // verified first
        #expect(RequestLifecycle.canMove(from: .awaitingVerification, to: .received))  // dsr.resume_request
    }

    @Test func everyStatusHasItsMovesListed() {
        #expect(Set(RequestLifecycle.transitions.keys) == Set(RequestStatus.allCases))
    }

    @Test(arguments: [RequestStatus.awaitingVerification, .completed, .refused, .cancelled])
    func heldOrEndedRequestsAreNotPlanned(status: RequestStatus) {
        let anyone = RequestLifecycle.Resolved(matches: 1, phoneOnly: false)
        #expect(RequestLifecycle.plan(status: status, verified: true, resolved: anyone) == .skip)
    }

    @Test func aSharedPhoneAloneIsHeldUnlessVerified() {
        let family = RequestLifecycle.Resolved(matches: 3, phoneOnly: true)
        #expect(RequestLifecycle.plan(status: .received, verified: false, resolved: family) == .hold(.sharedPhone))
        #expect(RequestLifecycle.plan(status: .received, verified: true, resolved: family) == .plan)
        // One customer on the phone, or a strong identifier that matched: nothing to hold.
        #expect(RequestLifecycle.plan(status: .received, verified: false, resolved: .init(matches: 1, phoneOnly: true)) == .plan)
        #expect(RequestLifecycle.plan(status: .inProgress, verified: false, resolved: .init(matches: 3, phoneOnly: false)) == .plan)
    }

    @Test func conflictingRecordsAreHeldWithTheirPairsOnceEach() {
        let joined = RequestLifecycle.Resolved(matches: 2, phoneOnly: false, conflicts: ["b|c", "a|b", "b|c"])
        let decision = RequestLifecycle.plan(status: .waiting, verified: false, resolved: joined)
        #expect(decision == .hold(.conflictingRecords(["a|b", "b|c"])))
        if case .hold(let reason) = decision { #expect(reason.code == "conflicting_records") }
        #expect(RequestLifecycle.plan(status: .waiting, verified: true, resolved: joined) == .plan)
    }

    @Test func eachKindRunsItsStoreOperation() {
        #expect(StoreOperation(for: .access) == .export && StoreOperation(for: .portability) == .export)
        #expect(StoreOperation(for: .erasure) == .erase)
        #expect(StoreOperation(for: .rectification) == .rectify && StoreOperation(for: .restriction) == .restrict)
        #expect(StoreOperation(for: .objection) == .object && StoreOperation(for: .consentWithdrawal) == .object)
        #expect(RequestKind.allCases.filter { StoreOperation(for: $0).isChange }.count == 4)
    }
}
