"""The main module of a process that a program run by `lstmkit run` starts with multiprocessing's
spawn or forkserver method: multiprocessing imports it there as `__mp_main__` in place of the
program, and it runs the program (named by the parent in an environment variable) with the keras
hook on, so that the child sees the same functions and classes as the parent."""

if __name__ == "__mp_main__":
    from lstmkit.compat.programs import run_spawned

    run_spawned(globals())
