int hellocm_answer(void);
