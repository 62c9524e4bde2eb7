"""Pure rendering: the menu model every loader renders (menu.py) and what one pass publishes (publication.py)."""
