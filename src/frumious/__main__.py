import sys

from frumious.cli import main

sys.exit(main())
