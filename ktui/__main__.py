import sys

from ktui.cli import main

sys.exit(main())
