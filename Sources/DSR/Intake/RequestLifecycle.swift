/// A rights request's life cycle as a pure state machine: which moves between statuses
/// exist, and what the planning step does with what identity resolution found. No database,
/// no clock; the request jobs perform the decisions and the SQL functions make the moves.
///
/// ```
///                 ┌──────────── awaiting_verification ◀───────────┐ (identity uncertain,
///                 ▼ resume            │ resume                     │  or an operator asks)
///  received ──plan──▶ in_progress ◀──┴──▶ waiting (a store down) ─┘
///     │                 │  └──finalize──▶ completed
///     └─────────────────┴──────────────▶ refused │ cancelled        (all three final)
/// ```
///
/// `dsr.request_transitions` holds the same moves and a trigger on `dsr.requests` refuses any
/// other, so no function, operator or bug can bring an ended request back; a test checks the
/// two lists agree.
public enum RequestLifecycle {
    /// Every move a request can make (a status to itself is not a move).
    public static let transitions: [RequestStatus: Set<RequestStatus>] = [
        .received: [.inProgress, .waiting, .awaitingVerification, .completed, .refused, .cancelled],
        .inProgress: [.waiting, .awaitingVerification, .completed, .refused, .cancelled],
        .waiting: [.inProgress, .awaitingVerification, .completed, .refused, .cancelled],
        .awaitingVerification: [.received, .inProgress, .refused, .cancelled],
        .completed: [],
        .refused: [],
        .cancelled: [],
    ]

    public static func canMove(from: RequestStatus, to: RequestStatus) -> Bool {
        from == to || transitions[from, default: []].contains(to)
    }

    /// Why a request is held until someone verifies the identity.
    public enum HoldReason: Equatable, Sendable {
        /// Only a phone matched, and several customers share it: a family's line is not
        /// enough to tell which of them asked.
        case sharedPhone
        /// The identifiers join records that disagree on personal details.
        case conflictingRecords([String])
        /// The person is under 20 (PDPA s.20) and no parent or guardian is recorded as acting
        /// with them: an operator records one (`dsr.record_representative`) and verifies.
        case minorWithoutGuardian
        /// The person is under 10 (PDPA s.20): only a parent or guardian may act for them, for
        /// any request. Unlike the other holds, no operator can let it go on until a parent or
        /// guardian is recorded (a trigger refuses, and planning holds it again).
        case childWithoutGuardian

        /// The person is known for sure and only who may act for them is in question, so their
        /// contacts on file may be told of the hold (not so for a shared phone or records that
        /// disagree: those contacts may be someone else's).
        public var concernsOnePerson: Bool {
            switch self {
            case .minorWithoutGuardian, .childWithoutGuardian: true
            case .sharedPhone, .conflictingRecords: false
            }
        }

        /// `dsr.requests.hold_reason`.
        public var code: String {
            switch self {
            case .sharedPhone: "shared_phone"
            case .conflictingRecords: "conflicting_records"
            case .minorWithoutGuardian: "minor_without_guardian"
            case .childWithoutGuardian: "child_without_guardian"
            }
        }
    }

    /// What the planning step does.
    public enum PlanDecision: Equatable, Sendable {
        /// The request is on hold or has ended meanwhile: nothing to do.
        case skip
        /// Nothing may be done for anyone the request may not be about.
        case hold(HoldReason)
        /// The kind needs the person's identity verified first (`dsr.verification_policy`):
        /// a one-time code goes to a contact the stores hold for them, never only to one the
        /// requester typed (`dsr.start_verification`). No store is touched until then.
        case verify
        /// Queue one task per store.
        case plan
    }

    /// What identity resolution found, as far as the decision needs it.
    public struct Resolved: Equatable, Sendable {
        /// Records matched in the stores' authoritative tables.
        public var matches: Int
        /// Only a phone was given, or the strong identifiers given matched nobody.
        public var phoneOnly: Bool
        /// The phone alone matched several records. When it matched one, further records were
        /// joined through identifiers found on it (an email a family shares): not a shared
        /// phone, and held as conflicting records.
        public var phoneShared: Bool
        /// Pairs of records the identifiers join that disagree on personal details.
        public var conflicts: [String]
        /// How old a store's record says the person is (`minor_check`).
        public var age: Age

        public init(matches: Int, phoneOnly: Bool, phoneShared: Bool = true, conflicts: [String] = [], age: Age = .adultOrUnknown) {
            self.matches = matches
            self.phoneOnly = phoneOnly
            self.phoneShared = phoneShared
            self.conflicts = conflicts
            self.age = age
        }
    }

    /// A person's age as far as PDPA s.20 cares, youngest last: the youngest any record of
    /// the person gives counts.
    public enum Age: Int, Comparable, Sendable {
        /// No record says the person is under the age of majority.
        case adultOrUnknown
        /// Under the age of majority (20): a parent or guardian acts with them.
        case minor
        /// Under 10 (`minor_check.guardian_only_under`): only a parent or guardian may act.
        case child

        public static func < (lhs: Age, rhs: Age) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Who asked, as far as the decision needs it.
    public struct Requester: Equatable, Sendable {
        /// A parent, guardian or other representative is recorded as acting for the person.
        public var hasRepresentative: Bool
        /// The representative is a parent or guardian (not a curator or an attorney): the
        /// only one who may act for a child.
        public var hasGuardian: Bool
        /// dsrd created the request itself (the minors scan): nobody asked.
        public var isDSRD: Bool

        public init(hasRepresentative: Bool = false, hasGuardian: Bool = false, isDSRD: Bool = false) {
            self.hasRepresentative = hasRepresentative || hasGuardian
            self.hasGuardian = hasGuardian
            self.isDSRD = isDSRD
        }

        public static let person = Requester()
    }

    /// Whether the person's age may matter to this request: no parent or guardian asked for
    /// them, and dsrd did not make it (the minors scan). A child's request then needs one
    /// whatever its kind and whoever resumed it; a minor's only for more than stopping
    /// processing, unless another representative acts or an operator has decided.
    public static func mayNeedGuardian(_ requester: Requester) -> Bool {
        !requester.hasGuardian && !requester.isDSRD
    }

    /// The hold a person of `age` needs for this request, if any.
    static func guardianHold(age: Age, kind: RequestKind, resumed: Bool, requester: Requester) -> HoldReason? {
        guard mayNeedGuardian(requester) else { return nil }
        switch age {
        case .child: return .childWithoutGuardian
        case .minor:
            let stopsProcessingOnly = kind == .objection || kind == .consentWithdrawal
            return resumed || requester.hasRepresentative || stopsProcessingOnly ? nil : .minorWithoutGuardian
        case .adultOrUnknown: return nil
        }
    }

    /// Whether a step (planning, a store task, finalize) may do work for a request in `status`.
    public static func allowsWork(_ status: RequestStatus) -> Bool { status.allowsWork }

    /// The planning decision. The identity checks (a shared phone, conflicting records) come
    /// first, so a code never goes to a contact of the wrong person; once an operator has
    /// resolved a hold (`resumed`) they are not repeated, except one: when the operator named
    /// the person's identifiers on resuming (`resumedWithIdentifiers`), records that still
    /// disagree are another person's, joined through an identifier both carry, and the
    /// request is held again rather than handing them over. A request the operator verified
    /// at submission still goes through them: a verified person may give a shared phone.
    ///
    /// A minor (PDPA s.20: under 20) acts with a parent or guardian: unless one is recorded, a
    /// request that would hand over, change or erase their data waits for an operator. An
    /// objection or a consent withdrawal only stops processing and goes ahead; so do the
    /// requests dsrd makes itself for minors (the minors scan). For a child (under 10) only a
    /// parent or guardian may act: every request of theirs waits until one is recorded, even
    /// after an operator resumed it.
    public static func plan(
        status: RequestStatus, kind: RequestKind = .access, resumed: Bool, resumedWithIdentifiers: Bool = false,
        needsVerification: Bool, requester: Requester = .person, resolved: Resolved
    ) -> PlanDecision {
        guard allowsWork(status) else { return .skip }
        let conflicting = HoldReason.conflictingRecords(Array(Set(resolved.conflicts)).sorted())
        if !resumed {
            if resolved.phoneOnly && resolved.matches > 1 { return .hold(resolved.phoneShared ? .sharedPhone : conflicting) }
            if !resolved.conflicts.isEmpty { return .hold(conflicting) }
        } else if resumedWithIdentifiers && !resolved.conflicts.isEmpty {
            return .hold(conflicting)
        }
        if let hold = guardianHold(age: resolved.age, kind: kind, resumed: resumed, requester: requester) { return .hold(hold) }
        if needsVerification { return .verify }
        return .plan
    }
}
