// Names for the threads Firstcome starts, so `top -H`, `ps -L`, perf and gdb
// show which one is busy (an HTTP thread, the log writer, the consumer)
// instead of "firstcome" for all of them.
#pragma once

#include <string_view>

namespace firstcome {

// Names the calling thread. Linux keeps at most 15 bytes; a longer name is
// cut. Best effort: a name that cannot be set changes nothing else.
void NameThisThread(std::string_view name);

}  // namespace firstcome
