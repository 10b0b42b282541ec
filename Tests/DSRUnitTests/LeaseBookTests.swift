import Testing

@testable import DSR

@Suite("Leases")
struct LeaseBookTests {
    /// A job past its timeout keeps its place until its outcome is recorded, but the
    /// heartbeat no longer renews its lease.
    @Test func anOverdueJobIsHeldButNotRenewed() {
        let book = LeaseBook()
        let jobs = [1, 2].map { Job(id: $0, kind: "probe", requestID: nil, payload: "{}", attempt: 1, maxAttempts: 3) }
        book.add(jobs)
        #expect(Set(book.renewable) == [1, 2])
        book.markOverdue(2)
        #expect(book.renewable == [1])
        #expect(Set(book.ids) == [1, 2])
        book.remove([2])
        #expect(book.count == 1)
    }
}
