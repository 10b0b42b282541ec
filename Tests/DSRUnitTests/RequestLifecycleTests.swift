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
        #expect(RequestLifecycle.plan(status: status, resumed: true, needsVerification: false, resolved: anyone) == .skip)
    }

    @Test func aSharedPhoneAloneIsHeldUntilAnOperatorResolvesIt() {
        let family = RequestLifecycle.Resolved(matches: 3, phoneOnly: true)
        #expect(RequestLifecycle.plan(status: .received, resumed: false, needsVerification: false, resolved: family) == .hold(.sharedPhone))
        #expect(RequestLifecycle.plan(status: .received, resumed: true, needsVerification: false, resolved: family) == .plan)
        // One customer on the phone, or a strong identifier that matched: nothing to hold.
        #expect(
            RequestLifecycle.plan(status: .received, resumed: false, needsVerification: false, resolved: .init(matches: 1, phoneOnly: true))
                == .plan)
        #expect(
            RequestLifecycle.plan(
                status: .inProgress, resumed: false, needsVerification: false, resolved: .init(matches: 3, phoneOnly: false)) == .plan)
    }

    @Test func conflictingRecordsAreHeldWithTheirPairsOnceEach() {
        let joined = RequestLifecycle.Resolved(matches: 2, phoneOnly: false, conflicts: ["b|c", "a|b", "b|c"])
        let decision = RequestLifecycle.plan(status: .waiting, resumed: false, needsVerification: false, resolved: joined)
        #expect(decision == .hold(.conflictingRecords(["a|b", "b|c"])))
        if case .hold(let reason) = decision { #expect(reason.code == "conflicting_records") }
        #expect(RequestLifecycle.plan(status: .waiting, resumed: true, needsVerification: false, resolved: joined) == .plan)
    }

    /// A phone only one customer has, whose record shares an email with a family member's:
    /// the records were joined through the email, not the phone, and are held as conflicting.
    @Test func recordsJoinedThroughAnIdentifierFoundOnThePhonesRecordAreConflicting() {
        let joined = RequestLifecycle.Resolved(matches: 2, phoneOnly: true, phoneShared: false, conflicts: ["customers.full_name"])
        #expect(
            RequestLifecycle.plan(status: .received, resumed: false, needsVerification: false, resolved: joined)
                == .hold(.conflictingRecords(["customers.full_name"])))
    }

    /// Identifiers an operator names on resuming that still join records which disagree name
    /// another person's records too: held again. Resumed without identifiers (the operator
    /// says the records are one person's), or when the records agree, it goes ahead.
    @Test func identifiersNamedOnResumingThatStillJoinDisagreeingRecordsHoldItAgain() {
        let joined = RequestLifecycle.Resolved(matches: 2, phoneOnly: false, conflicts: ["customers.full_name"])
        #expect(
            RequestLifecycle.plan(
                status: .received, resumed: true, resumedWithIdentifiers: true, needsVerification: false, resolved: joined)
                == .hold(.conflictingRecords(["customers.full_name"])))
        #expect(
            RequestLifecycle.plan(
                status: .received, resumed: true, resumedWithIdentifiers: false, needsVerification: false, resolved: joined)
                == .plan)
        let one = RequestLifecycle.Resolved(matches: 1, phoneOnly: false)
        #expect(
            RequestLifecycle.plan(status: .received, resumed: true, resumedWithIdentifiers: true, needsVerification: false, resolved: one)
                == .plan)
    }

    @Test func aKindThatNeedsVerificationWaitsForItWhateverWasFound() {
        for resolved in [
            RequestLifecycle.Resolved(matches: 1, phoneOnly: false), .init(matches: 0, phoneOnly: false),
            .init(matches: 1, phoneOnly: true),
        ] {
            #expect(RequestLifecycle.plan(status: .received, resumed: false, needsVerification: true, resolved: resolved) == .verify)
            #expect(RequestLifecycle.plan(status: .received, resumed: true, needsVerification: true, resolved: resolved) == .verify)
        }
        // The identity checks come first: a code must not go to a contact of the wrong person.
        let family = RequestLifecycle.Resolved(matches: 3, phoneOnly: true)
        #expect(
            RequestLifecycle.plan(status: .received, resumed: false, needsVerification: true, resolved: family) == .hold(.sharedPhone))
        // Verified at submission (an operator saw an ID card): the shared phone is still held.
        #expect(
            RequestLifecycle.plan(status: .received, resumed: false, needsVerification: false, resolved: family)
                == .hold(.sharedPhone))
        #expect(
            RequestLifecycle.plan(status: .awaitingVerification, resumed: false, needsVerification: true, resolved: family) == .skip)
    }

    /// The planning decision for one matched person of `age`, received and needing no code.
    static func planFor(
        age: RequestLifecycle.Age, _ kind: RequestKind, _ requester: RequestLifecycle.Requester, resumed: Bool
    ) -> RequestLifecycle.PlanDecision {
        RequestLifecycle.plan(
            status: .received, kind: kind, resumed: resumed, needsVerification: false, requester: requester,
            resolved: RequestLifecycle.Resolved(matches: 1, phoneOnly: false, age: age))
    }

    @Test func aMinorActsWithAGuardianExceptToStopProcessing() {
        func plan(_ kind: RequestKind, _ requester: RequestLifecycle.Requester = .person, resumed: Bool = false)
            -> RequestLifecycle.PlanDecision
        {
            Self.planFor(age: .minor, kind, requester, resumed: resumed)
        }
        for kind in [RequestKind.access, .portability, .erasure, .rectification, .restriction] {
            #expect(plan(kind) == .hold(.minorWithoutGuardian), "\(kind)")
            #expect(plan(kind, .init(hasRepresentative: true)) == .plan, "\(kind)")
            #expect(plan(kind, resumed: true) == .plan, "\(kind)")  // an operator decided
        }
        #expect(plan(.objection) == .plan && plan(.consentWithdrawal) == .plan)
        #expect(plan(.erasure, .init(isDSRD: true)) == .plan)  // the minors scan's own erasure
        #expect(RequestLifecycle.HoldReason.minorWithoutGuardian.code == "minor_without_guardian")
    }

    @Test func onlyAParentOrGuardianActsForAChild() {
        func plan(_ kind: RequestKind, _ requester: RequestLifecycle.Requester = .person, resumed: Bool = false)
            -> RequestLifecycle.PlanDecision
        {
            Self.planFor(age: .child, kind, requester, resumed: resumed)
        }
        for kind in RequestKind.allCases {
            #expect(plan(kind) == .hold(.childWithoutGuardian), "\(kind)")  // an objection too
            #expect(plan(kind, resumed: true) == .hold(.childWithoutGuardian), "\(kind)")  // no operator can waive it
            #expect(plan(kind, .init(hasRepresentative: true)) == .hold(.childWithoutGuardian), "\(kind)")  // an attorney cannot
            #expect(plan(kind, .init(hasGuardian: true)) == .plan, "\(kind)")
        }
        #expect(plan(.erasure, .init(isDSRD: true)) == .plan)  // the minors scan's own erasure
        // The identity checks still come first: a shared phone is held as such.
        let family = RequestLifecycle.Resolved(matches: 2, phoneOnly: true, age: .child)
        #expect(
            RequestLifecycle.plan(status: .received, resumed: false, needsVerification: false, resolved: family) == .hold(.sharedPhone))
        // The youngest record counts.
        #expect(max(RequestLifecycle.Age.minor, .child, .adultOrUnknown) == .child)
        #expect(RequestLifecycle.HoldReason.childWithoutGuardian.code == "child_without_guardian")
    }

    @Test func eachKindRunsItsStoreOperation() {
        #expect(StoreOperation(for: .access) == .export && StoreOperation(for: .portability) == .export)
        #expect(StoreOperation(for: .erasure) == .erase)
        #expect(StoreOperation(for: .rectification) == .rectify && StoreOperation(for: .restriction) == .restrict)
        #expect(StoreOperation(for: .objection) == .object && StoreOperation(for: .consentWithdrawal) == .object)
        #expect(RequestKind.allCases.filter { StoreOperation(for: $0).isChange }.count == 4)
    }
}
