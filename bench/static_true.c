/* The floor of starting a process: a statically linked program that returns 0 (no dynamic
   loader, no shared library). jobs_bench runs it beside /bin/true as a reference. */
int main(void) { return 0; }
