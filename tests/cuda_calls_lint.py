#!/usr/bin/env python3
"""cuda_calls_checked: every CUDA, cuBLAS, cuSOLVER and cuDNN call in kernels/ has its status used.

The rule of kernels/cuda_release.cuh: a call's error is either checked where it is made (a check
macro naming file, line and statement, an assignment to a status variable that is then tested,
a return of it, a comparison) or, on a release path, passed through cs_cuda_released() or cast
to (void) with the reason beside it. An unchecked call would leave its error for the next launch
check, which would blame the wrong operation. This reads the sources (no GPU needed) and lists
every call statement whose result is dropped.

Calls whose result is no status are exempt (cudaGetErrorString, cudnnGetVersion, ...)."""
import re
import sys

NO_STATUS = {"cudaGetErrorString", "cudaGetErrorName", "cudnnGetErrorString", "cudnnGetVersion",
             "cublasGetStatusString", "cudnnGetLastErrorString", "cudnnGetCudartVersion"}
CALL = re.compile(r"\b((?:cuda|cublas|cusolver|cudnn)[A-Z][A-Za-z0-9_]*)\s*\(")


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    src = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', src)  # string literals (messages name calls)
    return re.sub(r"//[^\n]*", "", src)


def main():
    bad = 0
    n = 0
    for path in sys.argv[1:]:
        text = strip_comments(open(path).read())
        lines = text.split("\n")
        for m in CALL.finditer(text):
            name = m.group(1)
            if name in NO_STATUS:
                continue
            line_no = text.count("\n", 0, m.start()) + 1
            line = lines[line_no - 1]
            before = line[:m.start() - (text.rfind("\n", 0, m.start()) + 1)].rstrip()
            if re.search(r"#\s*define", line):
                continue
            n += 1
            # what precedes the call on its line decides
            ok = (before.endswith(("(", "=", ",", "return", "!", "&&", "||", "?", ":", "(void)"))
                  or re.search(r"\b(CU_CHECK|DNN_CHECK|CS_CUDA|CS_CUBLAS|CS_CUSOLVER|RELEASED|cs_cuda_released)\s*\(",
                               before) is not None)
            # a declaration with an initialiser: "cudaError_t e = cudaX(...)" ends with "="
            if not ok:
                print("%s:%d: %s(...) result dropped: %s" % (path, line_no, name, line.strip()))
                bad += 1
    print("%d call(s) in %d file(s), %d unchecked" % (n, len(sys.argv) - 1, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
