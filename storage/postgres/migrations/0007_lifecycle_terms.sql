-- Erasing a visitor deletes its search words (visitor_terms, 0006) and
-- those of the browsers merged into it: they are its name, email and
-- phone. The table's key leads with the word; this finds a visitor's.
CREATE INDEX visitor_terms_by_visitor ON visitor_terms (visitor_id);
