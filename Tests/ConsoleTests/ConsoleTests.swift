import Testing
import Console

@Test func escapeParserCommandsAndLiteralCtrlA() {
    var p = EscapeParser()
    var r = p.feed(Array("ab\u{01}xc".utf8))
    #expect(r.guest == Array("abc".utf8) && r.commands == [.quit])
    r = p.feed([0x01, 0x01, 0x01, 0x68, 0x01, 0x63, 0x01, 0x7A])
    #expect(r.guest == [0x01] && r.commands == [.help, .noMonitor])  // Ctrl-A z is dropped
    r = p.feed([0x01])
    #expect(r.guest.isEmpty && p.pendingEscape)
    r = p.feed(Array("x".utf8))  // the command in the next read
    #expect(r.commands == [.quit])
}

@Test func cp437GlyphsAndTheDump() {
    #expect(CP437.scalar(0x41) == "A")
    #expect(CP437.scalar(0x01) == "☺" && CP437.scalar(0xB1) == "▒" && CP437.scalar(0xC9) == "╔")
    #expect(CP437.scalar(0x00) == " " && CP437.scalar(0xFF) == " " && CP437.scalar(0x7F) == "⌂")
    var cells = [UInt16](repeating: 0x0720, count: 80 * 25)
    cells[0] = 0x0748; cells[1] = 0x0769; cells[5] = 0x07E1
    cells[80 * 24 + 79] = 0x0724
    let text = ScreenText.dump(cells: cells, columns: 80)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 26 && lines[25].isEmpty)
    #expect(lines[0] == "Hi   ß")
    #expect(lines[1].isEmpty)
    #expect(lines[24] == String(repeating: " ", count: 79) + "$")
}

@Test func rendererDrawsChangedRowsAndTheCursor() {
    var r = ScreenRenderer(columns: 4)
    var cells: [UInt16] = [0x0741, 0x0742, 0x1F43, 0x0720, 0x0720, 0x0720, 0x0720, 0x0720]
    let first = String(decoding: r.frame(cells: cells, cursor: (1, 2)), as: UTF8.self)
    #expect(first.contains("\u{1B}[1;1H") && first.contains("\u{1B}[2;1H"))
    #expect(first.contains("\u{1B}[0;37;40mAB\u{1B}[0;97;44mC"))  // grey on black, bright white on blue
    #expect(first.hasSuffix("\u{1B}[2;3H\u{1B}[?25h"))
    #expect(r.frame(cells: cells, cursor: (1, 2)).isEmpty)  // nothing changed
    cells[5] = 0x0744
    let second = String(decoding: r.frame(cells: cells, cursor: nil), as: UTF8.self)
    #expect(!second.contains("\u{1B}[1;1H") && second.contains("\u{1B}[2;1H"))
    #expect(second.hasSuffix("\u{1B}[?25l"))
    r.invalidate()
    #expect(String(decoding: r.frame(cells: cells, cursor: nil), as: UTF8.self).contains("\u{1B}[1;1H"))
}
