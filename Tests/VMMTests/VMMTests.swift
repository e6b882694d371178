import Testing
@testable import VMM
