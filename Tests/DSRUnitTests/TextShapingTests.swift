import Testing

@testable import DSR

/// Small text transforms on the hot path of every request, written byte by byte or per
/// Character instead of through Foundation: they must keep their meaning.
@Suite("Text shaping")
struct TextShapingTests {
    @Test func stagedNamesEscapePercentBeforeSlash() {
        #expect(ExportedFile.stagedName("order/orders.json") == "order%2Forders.json")
        #expect(ExportedFile.stagedName("a%2Fb/ลูกค้า.csv") == "a%252Fb%2Fลูกค้า.csv")
        #expect(ExportedFile.stagedName("summary.txt") == "summary.txt")
        // Two paths that differ only in an escaped slash stay two names.
        #expect(ExportedFile.stagedName("a/b") != ExportedFile.stagedName("a%2Fb"))
    }

    @Test func blankLinesCollapseToOneEvenWithSpacesOnThem() {
        #expect(NoticeTemplates.collapseBlankLines("เรียน คุณ\n\n  \n\t\nขอบคุณ") == "เรียน คุณ\n\nขอบคุณ")
        #expect(NoticeTemplates.collapseBlankLines("a\n\nb\n \nc") == "a\n\nb\n \nc")
        #expect(NoticeTemplates.collapseBlankLines("a\nb") == "a\nb")
        #expect(NoticeTemplates.collapseBlankLines("\n\n\na") == "\na")
    }
}
