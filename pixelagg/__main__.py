"""python -m pixelagg"""

from pixelagg.cli import main

main()
