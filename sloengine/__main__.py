import sys

from sloengine.cli import main

sys.exit(main())
